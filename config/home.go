package config

// home is the user's home directory as env says: $HOME, else on Windows,
// where HOME is seldom set, %USERPROFILE%, as os.UserHomeDir and docker's
// Windows client have it. "" without either.
func home(goos string, getenv func(string) string) string {
	if h := getenv("HOME"); h != "" {
		return h
	}
	if goos == "windows" {
		return getenv("USERPROFILE")
	}
	return ""
}
