"""Small pieces every layer uses: column names and quoting, run dates, hashing, files."""
