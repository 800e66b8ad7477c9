#!/bin/sh
# Turn a text file into a C string: embed.sh INPUT OUTPUT SYMBOL
set -eu
in=$1 out=$2 sym=$3
{
	printf '/* Generated from %s by scripts/embed.sh. */\n' "$(basename "$in")"
	printf 'const char %s[] =\n' "$sym"
	sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/\t"/' -e 's/$/\\n"/' "$in"
	printf ';\n'
} > "$out"
