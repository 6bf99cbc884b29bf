package disk

import "runtime"

// Home is the user's home directory as getenv says: $HOME, else on Windows,
// where HOME is seldom set, %USERPROFILE%, as os.UserHomeDir and docker's
// Windows client have it. "" without either.
func Home(getenv func(string) string) string { return home(runtime.GOOS, getenv) }

func home(goos string, getenv func(string) string) string {
	if h := getenv("HOME"); h != "" {
		return h
	}
	if goos == "windows" {
		return getenv("USERPROFILE")
	}
	return ""
}
