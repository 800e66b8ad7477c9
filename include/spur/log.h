/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Logging: levels, per-component debug flags switchable at run time, output
 * to stderr or syslog. Safe from any thread; one line is written with one
 * write(2) so lines from reactors never interleave.
 *
 * Components are registered explicitly (spur_log_register_component) by the
 * library that owns them, at start-up, before reactors run.
 */
#ifndef SPUR_LOG_H
#define SPUR_LOG_H

#include <stdarg.h>
#include <stdbool.h>

enum spur_log_level {
	SPUR_LOG_DISABLED = -1,
	SPUR_LOG_ERROR = 0,
	SPUR_LOG_WARN,
	SPUR_LOG_NOTICE,
	SPUR_LOG_INFO,
	SPUR_LOG_DEBUG,
};

/* Messages at or below this level are printed (default NOTICE). */
void spur_log_set_level(enum spur_log_level level);
enum spur_log_level spur_log_get_level(void);
/* SPDK's names: "ERROR", "WARNING", "NOTICE", "INFO", "DEBUG". */
const char *spur_log_level_name(enum spur_log_level level);
/* Returns the level or -EINVAL for an unknown name (case-insensitive). */
int spur_log_level_parse(const char *name);

/* Send output to syslog instead of stderr. */
void spur_log_open_syslog(const char *ident);
void spur_log_close(void);

/*
 * Per-component debug flags. A component must be registered before its flag
 * can be set; "all" sets or clears every flag. Return 0 or -ENOENT.
 */
void spur_log_register_component(const char *name);
int spur_log_set_flag(const char *name);
int spur_log_clear_flag(const char *name);
bool spur_log_get_flag(const char *name);
/* Calls fn for every registered component in registration order. */
void spur_log_for_each_flag(void (*fn)(const char *name, bool enabled, void *ctx), void *ctx);

void spur_log(enum spur_log_level level, const char *component, const char *file, int line,
	      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void spur_vlog(enum spur_log_level level, const char *component, const char *file, int line,
	       const char *fmt, va_list ap);
/* True when a debug message for this component would be printed. */
bool spur_log_debug_enabled(const char *component);

#define SPUR_ERRLOG(...) spur_log(SPUR_LOG_ERROR, NULL, __FILE__, __LINE__, __VA_ARGS__)
#define SPUR_WARNLOG(...) spur_log(SPUR_LOG_WARN, NULL, __FILE__, __LINE__, __VA_ARGS__)
#define SPUR_NOTICELOG(...) spur_log(SPUR_LOG_NOTICE, NULL, __FILE__, __LINE__, __VA_ARGS__)
#define SPUR_INFOLOG(...) spur_log(SPUR_LOG_INFO, NULL, __FILE__, __LINE__, __VA_ARGS__)
/* Printed when the component's flag is set (spurctl log_set_flag, -L). */
#define SPUR_DEBUGLOG(component, ...)                                                  \
	do {                                                                           \
		if (spur_log_debug_enabled(component))                                 \
			spur_log(SPUR_LOG_DEBUG, component, __FILE__, __LINE__, __VA_ARGS__); \
	} while (0)

#endif
