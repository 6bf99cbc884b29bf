// Package editdist measures how far apart two short strings are, to suggest
// what a person meant: a tag, a configuration key.
package editdist

// Distance is Levenshtein's distance on bytes (the strings compared are
// ASCII names). Strings over 128 bytes are as far apart as the longer one is
// long: nobody misspells those.
func Distance(a, b string) int {
	if len(a) > 128 || len(b) > 128 {
		return max(len(a), len(b))
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
