/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Bounded string formatting. Owns no state; safe from any thread.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "spur/util.h"

/*
 * Format into buf (len bytes, always NUL-terminated when len > 0).
 * Returns 0, -ENAMETOOLONG if the output was truncated (buf then holds the
 * truncated text), or -EINVAL on an encoding error (buf is "").
 */
int
spur_strfmt(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (len == 0) {
		return -ENAMETOOLONG;
	}
	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	if (n < 0) {
		buf[0] = '\0';
		return -EINVAL;
	}
	if ((size_t)n >= len) {
		return -ENAMETOOLONG;
	}
	return 0;
}
