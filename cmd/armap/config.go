package main

import (
	"bytes"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/armap/armap/configs"
)

// envReserved are ARMAP_* variables that are not configuration keys.
var envReserved = map[string]bool{"ARMAP_BACKEND": true}

// loader builds one command's configuration in increasing precedence: the struct defaults, the
// embedded configs/armap.yaml, the --config file, ARMAP_* environment variables, flags. Unknown
// keys in any file or ARMAP_* variable are errors.
type loader struct {
	v     *viper.Viper
	binds map[string]string // flag name -> key
}

func newLoader() *loader {
	v := viper.New()
	v.SetConfigType("yaml")
	v.SetEnvPrefix("ARMAP")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	return &loader{v: v, binds: map[string]string{}}
}

// bind ties a flag to a configuration key; the flag itself is looked up at load time, after
// cobra has parsed the command line.
func (l *loader) bind(flag, key string) {
	l.binds[flag] = key
}

// defaults registers every leaf of def (via mapstructure tags) as a key with its default, so
// that viper knows all keys: for environment variables and for the unknown-key check.
func (l *loader) defaults(prefix string, def any) {
	rv := reflect.ValueOf(def)
	if rv.Kind() == reflect.Pointer {
		rv = rv.Elem()
	}
	rt := rv.Type()
	for i := 0; i < rt.NumField(); i++ {
		f := rt.Field(i)
		tag := strings.Split(f.Tag.Get("mapstructure"), ",")
		name := tag[0]
		if name == "-" || !f.IsExported() {
			continue
		}
		squash := len(tag) > 1 && tag[1] == "squash"
		if name == "" && !squash {
			name = strings.ToLower(f.Name)
		}
		key := name
		if prefix != "" && name != "" {
			key = prefix + "." + name
		} else if prefix != "" {
			key = prefix
		}
		fv := rv.Field(i)
		if fv.Kind() == reflect.Struct && f.Type.PkgPath() != "time" {
			l.defaults(key, fv.Interface())
			continue
		}
		l.v.SetDefault(key, fv.Interface())
	}
}

// load reads files, environment and flags into out (a pointer to the command's config struct).
func (l *loader) load(cmd *cobra.Command, out any) error {
	if err := l.v.MergeConfig(bytes.NewReader(mustRead("armap.yaml"))); err != nil {
		return fmt.Errorf("configs/armap.yaml: %w", err)
	}
	if f := cmd.Flags().Lookup("config"); f != nil && f.Value.String() != "" {
		if err := l.checkFile(f.Value.String()); err != nil {
			return err
		}
		l.v.SetConfigFile(f.Value.String())
		if err := l.v.MergeInConfig(); err != nil {
			return fmt.Errorf("config file %s: %w", f.Value.String(), err)
		}
	}
	for flag, key := range l.binds {
		if f := cmd.Flags().Lookup(flag); f != nil {
			if err := l.v.BindPFlag(key, f); err != nil {
				return err
			}
		}
	}
	if err := l.checkEnv(); err != nil {
		return err
	}
	if err := l.v.UnmarshalExact(out); err != nil {
		return l.decodeError(cmd, err)
	}
	return nil
}

// decodeKey finds the keys in mapstructure's errors: "'train.steps' cannot parse value as 'int': ...".
var decodeKey = regexp.MustCompile(`'([a-z0-9_.]+)' `)

// decodeError names, for each key whose value could not be read, the value and where it came
// from (viper merges the sources and cannot say).
func (l *loader) decodeError(cmd *cobra.Command, err error) error {
	var lines []string
	for _, line := range strings.Split(err.Error(), "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "* "))
		m := decodeKey.FindStringSubmatch(line)
		if m == nil || !l.v.IsSet(m[1]) {
			continue
		}
		key := m[1]
		msg := strings.TrimSpace(strings.TrimPrefix(line, m[0]))
		lines = append(lines, fmt.Sprintf("%s = %q (%s): %s", key, fmt.Sprint(l.v.Get(key)), l.source(cmd, key), msg))
	}
	if len(lines) == 0 {
		return fmt.Errorf("configuration: %w", err)
	}
	return fmt.Errorf("configuration: %s", strings.Join(lines, "; "))
}

// source says where key's value comes from, in viper's order of precedence.
func (l *loader) source(cmd *cobra.Command, key string) string {
	for flag, k := range l.binds {
		if f := cmd.Flags().Lookup(flag); k == key && f != nil && f.Changed {
			return "flag --" + flag
		}
	}
	env := envVar(key)
	if _, ok := os.LookupEnv(env); ok {
		return "environment variable " + env
	}
	if f := cmd.Flags().Lookup("config"); f != nil && f.Value.String() != "" {
		fv := viper.New()
		fv.SetConfigFile(f.Value.String())
		if fv.ReadInConfig() == nil && fv.IsSet(key) {
			return "config file " + f.Value.String()
		}
	}
	return "configs/armap.yaml"
}

// checkFile refuses a configuration file with keys armap does not know, naming the file and
// the keys (viper's own check cannot say which file a key came from).
func (l *loader) checkFile(path string) error {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fmt.Errorf("config file %s is a folder", path)
	}
	fv := viper.New()
	fv.SetConfigFile(path)
	if err := fv.ReadInConfig(); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	known := map[string]bool{}
	for _, k := range l.v.AllKeys() {
		known[k] = true
	}
	var bad []string
	for _, k := range fv.AllKeys() {
		if !known[k] {
			if to, ok := renamedKeys[k]; ok {
				k += " (now " + to + ")"
			}
			bad = append(bad, k)
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return fmt.Errorf("config file %s: unknown keys: %s", path, strings.Join(bad, ", "))
	}
	return nil
}

// envVar is the environment variable that sets key, as newLoader tells viper to look it up.
func envVar(key string) string {
	return "ARMAP_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// checkEnv refuses ARMAP_* variables that name no key: a typo there would otherwise be ignored.
func (l *loader) checkEnv() error {
	known := map[string]bool{}
	for _, k := range l.v.AllKeys() {
		known[envVar(k)] = true
	}
	var bad []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "ARMAP_") && !known[name] && !envReserved[name] {
			if to, ok := renamedKeys[strings.ToLower(strings.TrimPrefix(name, "ARMAP_"))]; ok {
				name += " (now ARMAP_" + strings.ToUpper(to) + ")"
			}
			bad = append(bad, name)
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return fmt.Errorf("unknown configuration in the environment: %s (keys are ARMAP_ + the key in upper case with _ for ., e.g. ARMAP_TRAIN_LR)", strings.Join(bad, ", "))
	}
	return nil
}

// renamedKeys maps keys that earlier versions read to their current names, so that the
// unknown-key errors point at the new one.
var renamedKeys = map[string]string{"fused_add_norm": "fused_kernels"}

func mustRead(name string) []byte {
	data, err := configs.FS.ReadFile(name)
	if err != nil {
		panic(err) // embedded at build time: missing means a broken build
	}
	return data
}

// addConfigFlag adds --config to a command.
func addConfigFlag(fs *pflag.FlagSet) {
	fs.String("config", "", "YAML configuration file (overrides configs/armap.yaml; flags and ARMAP_* variables override it)")
}
