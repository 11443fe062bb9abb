package plan

import (
	"math"

	"k8s.io/apimachinery/pkg/api/resource"
)

const (
	kibibyte int64 = 1 << 10
	mebibyte int64 = 1 << 20
	gibibyte int64 = 1 << 30
	tebibyte int64 = 1 << 40
)

// bytesOf reads a quantity as bytes; negative sizes count as zero.
func bytesOf(q resource.Quantity) int64 {
	return max(q.Value(), 0)
}

func quantityOf(bytes int64) resource.Quantity {
	return *resource.NewQuantity(bytes, resource.BinarySI)
}

// ceilBytes converts a computed size to bytes, rounding up and saturating:
// a snapshot may hold any number, and a wrapped size must never look small.
func ceilBytes(size float64) int64 {
	switch {
	case math.IsNaN(size) || size >= math.MaxInt64:
		return math.MaxInt64
	case size <= 0:
		return 0
	}
	return int64(math.Ceil(size))
}

// addBytes adds without wrapping.
func addBytes(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// roundUpBytes rounds size up to a multiple of granularity without wrapping.
func roundUpBytes(size, granularity int64) int64 {
	if granularity <= 1 || size <= 0 {
		return size
	}
	remainder := size % granularity
	if remainder == 0 {
		return size
	}
	return addBytes(size, granularity-remainder)
}
