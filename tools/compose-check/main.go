// compose-check validates docker-compose.yml with compose-go, the loader behind `docker compose config`,
// for machines whose Docker client has no compose plugin. Usage: go run ./tools/compose-check [file]
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	file := "docker-compose.yml"
	if len(os.Args) > 1 {
		file = os.Args[1]
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		fail(err)
	}
	options, err := cli.NewProjectOptions([]string{abs}, cli.WithWorkingDirectory(filepath.Dir(abs)), cli.WithOsEnv, cli.WithDotEnv, cli.WithName("temporal-ml-pipeline"))
	if err != nil {
		fail(err)
	}
	project, err := options.LoadProject(context.Background())
	if err != nil {
		fail(err)
	}
	out, err := project.MarshalYAML()
	if err != nil {
		fail(err)
	}
	fmt.Fprintf(os.Stderr, "%s is valid: %d services (%v)\n", file, len(project.Services), project.ServiceNames())
	if os.Getenv("COMPOSE_CHECK_PRINT") == "1" {
		os.Stdout.Write(out)
	}
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "compose file invalid: %v\n", err)
	os.Exit(1)
}
