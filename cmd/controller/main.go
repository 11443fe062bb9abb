// Command controller runs the StorageAutoscalePolicy controller and the
// add-on's admission webhooks.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "cnpg-storage-autoscaler controller: not implemented yet")
	os.Exit(1)
}
