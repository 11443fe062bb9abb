package csidriver

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestMaxSizeRefusal(t *testing.T) {
	const gibibyte = 1 << 30
	for _, tc := range []struct {
		name          string
		requiredBytes int64
		maxSize       string
		code          codes.Code // codes.OK: the growth goes ahead
		message       string
	}{
		{name: "no bound grows", requiredBytes: 100 * gibibyte},
		{name: "below the bound grows", requiredBytes: 2 * gibibyte, maxSize: "3Gi"},
		{name: "exactly the bound grows", requiredBytes: 3 * gibibyte, maxSize: "3Gi"},
		{name: "one byte past the bound is refused", requiredBytes: 3*gibibyte + 1, maxSize: "3Gi", code: codes.OutOfRange,
			message: `sandbox storage: volume pvc-1 cannot be expanded to 3221225473 (fault "max-size" injected): the disk type's largest size is 3Gi`},
		{name: "past the bound is refused, naming both sizes", requiredBytes: 4 * gibibyte, maxSize: "3Gi", code: codes.OutOfRange,
			message: `sandbox storage: volume pvc-1 cannot be expanded to 4Gi (fault "max-size" injected): the disk type's largest size is 3Gi`},
		{name: "a decimal bound counts in bytes", requiredBytes: 3 * gibibyte, maxSize: "3G", code: codes.OutOfRange,
			message: `sandbox storage: volume pvc-1 cannot be expanded to 3Gi (fault "max-size" injected): the disk type's largest size is 3G`},
		{name: "a bound that is no size is refused", requiredBytes: 2 * gibibyte, maxSize: "three", code: codes.InvalidArgument,
			message: `sandbox.pgstorage.io/max-size "three": want a positive size such as 3Gi`},
		{name: "a zero bound is refused", requiredBytes: 2 * gibibyte, maxSize: "0", code: codes.InvalidArgument,
			message: `sandbox.pgstorage.io/max-size "0": want a positive size such as 3Gi`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := maxSizeRefusal("pvc-1", tc.requiredBytes, tc.maxSize)
			got := status.Convert(err)
			if got.Code() != tc.code || got.Message() != tc.message {
				t.Errorf("got %s %q, want %s %q", got.Code(), got.Message(), tc.code, tc.message)
			}
		})
	}
}
