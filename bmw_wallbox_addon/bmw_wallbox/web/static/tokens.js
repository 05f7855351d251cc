// The Tokens tab (filled in below).
