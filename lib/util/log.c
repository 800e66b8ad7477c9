/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Logging: the global print level, the registry of per-component debug
 * flags and the formatting of one line to stderr or syslog.
 *
 * Threads: the level, the output mode and every flag are atomics, so any
 * thread may log or change them at any time. The component table only
 * grows; an entry is filled before g_ncomponents is published with release
 * order, so readers walk it without a lock. Registration itself takes a
 * mutex, but is expected at start-up, before reactors run.
 *
 * A stderr line is formatted in a stack buffer and written with one write(2)
 * so concurrent lines never interleave; a line longer than the buffer is cut
 * and ends in "...".
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "spur/log.h"
#include "spur/util.h"

#define MAX_COMPONENTS 256
#define COMPONENT_NAME_LEN 64
#define LINE_MAX_LEN 2048

struct component {
	char name[COMPONENT_NAME_LEN];
	atomic_bool enabled;
};

static struct component g_components[MAX_COMPONENTS];
static atomic_size_t g_ncomponents;
/* Number of enabled flags: lets SPUR_DEBUGLOG skip the lookup when zero. */
static atomic_int g_nenabled;
static pthread_mutex_t g_register_lock = PTHREAD_MUTEX_INITIALIZER;

static atomic_int g_level = SPUR_LOG_NOTICE;
static atomic_bool g_use_syslog;
/* openlog() keeps the pointer, so the ident must outlive it. */
static char g_syslog_ident[64];

static const char *const g_level_names[] = {
	[SPUR_LOG_ERROR] = "ERROR",
	[SPUR_LOG_WARN] = "WARNING",
	[SPUR_LOG_NOTICE] = "NOTICE",
	[SPUR_LOG_INFO] = "INFO",
	[SPUR_LOG_DEBUG] = "DEBUG",
};

void
spur_log_set_level(enum spur_log_level level)
{
	if (level < SPUR_LOG_DISABLED) {
		level = SPUR_LOG_DISABLED;
	} else if (level > SPUR_LOG_DEBUG) {
		level = SPUR_LOG_DEBUG;
	}
	atomic_store(&g_level, (int)level);
}

enum spur_log_level
spur_log_get_level(void)
{
	return (enum spur_log_level)atomic_load(&g_level);
}

/* Never NULL: "DISABLED" for SPUR_LOG_DISABLED, "UNKNOWN" out of range. */
const char *
spur_log_level_name(enum spur_log_level level)
{
	if (level == SPUR_LOG_DISABLED) {
		return "DISABLED";
	}
	if (level < SPUR_LOG_ERROR || level > SPUR_LOG_DEBUG) {
		return "UNKNOWN";
	}
	return g_level_names[level];
}

int
spur_log_level_parse(const char *name)
{
	if (name == NULL) {
		return -EINVAL;
	}
	for (int i = SPUR_LOG_ERROR; i <= SPUR_LOG_DEBUG; i++) {
		if (strcasecmp(name, g_level_names[i]) == 0) {
			return i;
		}
	}
	if (strcasecmp(name, "WARN") == 0) {
		return SPUR_LOG_WARN;
	}
	return -EINVAL;
}

void
spur_log_open_syslog(const char *ident)
{
	if (atomic_load(&g_use_syslog)) {
		closelog();
	}
	spur_strfmt(g_syslog_ident, sizeof(g_syslog_ident), "%s", ident ? ident : "spur");
	openlog(g_syslog_ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	atomic_store(&g_use_syslog, true);
}

void
spur_log_close(void)
{
	if (atomic_exchange(&g_use_syslog, false)) {
		closelog();
	}
}

static struct component *
find_component(const char *name)
{
	size_t n = atomic_load_explicit(&g_ncomponents, memory_order_acquire);

	for (size_t i = 0; i < n; i++) {
		if (strcasecmp(g_components[i].name, name) == 0) {
			return &g_components[i];
		}
	}
	return NULL;
}

/*
 * Adds a component with its flag clear. Registering a name twice is a no-op;
 * a name longer than 63 characters or a full table is reported and ignored.
 */
void
spur_log_register_component(const char *name)
{
	size_t n;

	if (name == NULL || name[0] == '\0' || strcasecmp(name, "all") == 0) {
		SPUR_ERRLOG("invalid log component name\n");
		return;
	}
	pthread_mutex_lock(&g_register_lock);
	n = atomic_load_explicit(&g_ncomponents, memory_order_relaxed);
	if (find_component(name) != NULL) {
		pthread_mutex_unlock(&g_register_lock);
		return;
	}
	if (n == MAX_COMPONENTS ||
	    spur_strfmt(g_components[n].name, COMPONENT_NAME_LEN, "%s", name) < 0) {
		pthread_mutex_unlock(&g_register_lock);
		SPUR_ERRLOG("cannot register log component '%s'\n", name);
		return;
	}
	atomic_init(&g_components[n].enabled, false);
	atomic_store_explicit(&g_ncomponents, n + 1, memory_order_release);
	pthread_mutex_unlock(&g_register_lock);
}

static void
component_set(struct component *c, bool on)
{
	if (atomic_exchange(&c->enabled, on) != on) {
		atomic_fetch_add(&g_nenabled, on ? 1 : -1);
	}
}

static int
set_flag(const char *name, bool on)
{
	struct component *c;

	if (name == NULL) {
		return -ENOENT;
	}
	if (strcasecmp(name, "all") == 0) {
		size_t n = atomic_load_explicit(&g_ncomponents, memory_order_acquire);

		for (size_t i = 0; i < n; i++) {
			component_set(&g_components[i], on);
		}
		return 0;
	}
	c = find_component(name);
	if (c == NULL) {
		return -ENOENT;
	}
	component_set(c, on);
	return 0;
}

int
spur_log_set_flag(const char *name)
{
	return set_flag(name, true);
}

int
spur_log_clear_flag(const char *name)
{
	return set_flag(name, false);
}

/* False for an unknown component. */
bool
spur_log_get_flag(const char *name)
{
	struct component *c = name ? find_component(name) : NULL;

	return c != NULL && atomic_load(&c->enabled);
}

void
spur_log_for_each_flag(void (*fn)(const char *name, bool enabled, void *ctx), void *ctx)
{
	size_t n = atomic_load_explicit(&g_ncomponents, memory_order_acquire);

	for (size_t i = 0; i < n; i++) {
		fn(g_components[i].name, atomic_load(&g_components[i].enabled), ctx);
	}
}

bool
spur_log_debug_enabled(const char *component)
{
	if (atomic_load_explicit(&g_nenabled, memory_order_relaxed) == 0) {
		return false;
	}
	return spur_log_get_flag(component);
}

static int
syslog_priority(enum spur_log_level level)
{
	switch (level) {
	case SPUR_LOG_ERROR:
		return LOG_ERR;
	case SPUR_LOG_WARN:
		return LOG_WARNING;
	case SPUR_LOG_NOTICE:
		return LOG_NOTICE;
	case SPUR_LOG_INFO:
		return LOG_INFO;
	default:
		return LOG_DEBUG;
	}
}

/* Appends to buf at *off, never past len - 1; returns false once full. */
static bool
append(char *buf, size_t len, size_t *off, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static bool
append(char *buf, size_t len, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf + *off, len - *off, fmt, ap);
	va_end(ap);
	if (n < 0) {
		return false;
	}
	if ((size_t)n >= len - *off) {
		*off = len - 1;
		return false;
	}
	*off += (size_t)n;
	return true;
}

/*
 * Prints when level is at or below the current level, or when it is a DEBUG
 * line of a component whose flag is set. A trailing newline in fmt is
 * optional; exactly one ends every line. errno is preserved.
 */
void
spur_vlog(enum spur_log_level level, const char *component, const char *file, int line,
	  const char *fmt, va_list ap)
{
	char buf[LINE_MAX_LEN];
	size_t off = 0;
	int saved_errno = errno;
	bool fits = true;
	const char *base;

	if ((int)level > atomic_load(&g_level) &&
	    !(level == SPUR_LOG_DEBUG && component != NULL && spur_log_debug_enabled(component))) {
		return;
	}
	base = file ? strrchr(file, '/') : NULL;
	base = base ? base + 1 : (file ? file : "?");

	if (!atomic_load(&g_use_syslog)) {
		struct timespec ts;
		struct tm tm;
		char when[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		append(buf, sizeof(buf), &off, "[%s.%06ld] ", when, ts.tv_nsec / 1000);
	}
	append(buf, sizeof(buf), &off, "%s", spur_log_level_name(level));
	if (level == SPUR_LOG_DEBUG && component != NULL) {
		append(buf, sizeof(buf), &off, " %s", component);
	}
	append(buf, sizeof(buf), &off, " %s:%d: ", base, line);

	/* Room is kept for "...\n" should the message not fit. */
	if (off < sizeof(buf) - 5) {
		int n = vsnprintf(buf + off, sizeof(buf) - 4 - off, fmt, ap);

		if (n >= 0) {
			fits = (size_t)n < sizeof(buf) - 4 - off;
			off = fits ? off + (size_t)n : sizeof(buf) - 5;
		}
	} else {
		off = sizeof(buf) - 5;
		fits = false;
	}
	while (off > 0 && buf[off - 1] == '\n') {
		off--;
	}
	if (!fits) {
		memcpy(buf + off, "...", 3);
		off += 3;
	}

	if (atomic_load(&g_use_syslog)) {
		buf[off] = '\0';
		syslog(syslog_priority(level), "%s", buf);
	} else {
		const char *p = buf;

		buf[off++] = '\n';
		while (off > 0) {
			ssize_t w = write(STDERR_FILENO, p, off);

			if (w < 0 && errno == EINTR) {
				continue;
			}
			if (w <= 0) {
				break;
			}
			p += w;
			off -= (size_t)w;
		}
	}
	errno = saved_errno;
}

void
spur_log(enum spur_log_level level, const char *component, const char *file, int line,
	 const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	spur_vlog(level, component, file, line, fmt, ap);
	va_end(ap);
}
