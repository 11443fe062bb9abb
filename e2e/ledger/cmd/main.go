// Command ledger appends the entry of an e2e/run.sh run to
// E2E_TEST_SUMMARY.md, or, in CI (CI=true), where nothing is committed back,
// prints it without writing. e2e/run.sh calls it after every suite run:
//
//	go run ./e2e/ledger/cmd --report e2e/out/report.json --ledger E2E_TEST_SUMMARY.md \
//	  --commit "$(hack/images.sh tag)" --target sandbox --command "e2e/run.sh ..."
package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/pgstorage/cnpg-storage-autoscaler/e2e/ledger"
)

func main() {
	report := flag.String("report", "e2e/out/report.json", "the run's Ginkgo JSON report")
	ledgerPath := flag.String("ledger", "E2E_TEST_SUMMARY.md", "the ledger to append to")
	commit := flag.String("commit", "", "the tree's commit (hack/images.sh tag)")
	target := flag.String("target", "", "sandbox or cluster")
	command := flag.String("command", "", "the exact command line of the run")
	flag.Parse()
	if *commit == "" || *target == "" || *command == "" {
		fmt.Fprintln(os.Stderr, "ledger: --commit, --target and --command are required")
		flag.Usage()
		os.Exit(2)
	}
	write := os.Getenv("CI") != "true"
	if err := run(*report, *ledgerPath, *commit, *target, *command, write); err != nil {
		fmt.Fprintln(os.Stderr, "ledger:", err)
		os.Exit(1)
	}
}

func run(reportPath, ledgerPath, commit, target, command string, write bool) error {
	data, err := os.ReadFile(reportPath)
	if err != nil {
		return err
	}
	reports, err := ledger.ParseReport(data)
	if err != nil {
		return fmt.Errorf("%s: %w", reportPath, err)
	}
	existing, err := os.ReadFile(ledgerPath)
	if errors.Is(err, fs.ErrNotExist) {
		existing = []byte(ledger.Header)
	} else if err != nil {
		return err
	}
	entry := ledger.Render(ledger.NewEntry(string(existing), ledger.FromReports(reports), time.Now(), commit, target, command))
	if !write {
		fmt.Printf("CI=true: %s is not written; the entry it would get:\n%s", ledgerPath, entry)
		return nil
	}
	if err := os.WriteFile(ledgerPath, append(existing, entry...), 0o644); err != nil {
		return err
	}
	fmt.Printf("appended to %s:\n%s", ledgerPath, entry)
	return nil
}
