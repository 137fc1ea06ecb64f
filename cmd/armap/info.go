package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"github.com/armap/armap/engine/model"
)

func newInfoCmd() *cobra.Command {
	a := newApp()
	c := &cobra.Command{
		Use:   "info",
		Short: "Show the backend library, libtorch version, device and threads",
		Args:  cobra.NoArgs,
	}
	c.Flags().String("device", "cpu", "backend to load: cpu or cuda")
	c.Flags().Int("threads", 0, "intra-op threads (0 = all cores)")
	c.Flags().Bool("json", false, "print JSON")
	a.l.bind("device", "device")
	a.l.bind("threads", "threads")
	return a.command(c, func(ctx context.Context, cmd *cobra.Command, cfg *Config) error {
		b, err := openBackend(cfg)
		if err != nil {
			return err
		}
		info := b.Info()
		asJSON, _ := cmd.Flags().GetBool("json")
		if asJSON {
			out := map[string]any{"backend": info, "go": runtime.Version(), "presets": model.Presets(), "cpus": runtime.NumCPU()}
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(out)
		}
		fmt.Printf("backend library  %s\n", info.Path)
		fmt.Printf("backend          %s (ABI %d)\n", info.Backend, info.ABIVersion)
		fmt.Printf("libtorch         %s\n", info.TorchVersion)
		fmt.Printf("device           %s\n", info.DeviceName)
		if info.Backend == "cuda" {
			fmt.Printf("cuda devices     %d\n", info.CUDADeviceCount)
		}
		fmt.Printf("threads          %d (of %d CPUs)\n", info.Threads, runtime.NumCPU())
		fmt.Printf("features         %s\n", strings.Join(info.Features, " "))
		fmt.Printf("model presets    %v\n", model.Presets())
		return nil
	})
}
