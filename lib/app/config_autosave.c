/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * --config-autosave: after every RPC that changes the configuration and
 * succeeds, the running configuration (save_config) is written to the -c
 * file atomically: a temporary file in the same directory, fsync, rename
 * over the file, fsync of the directory. A crash at any instant leaves
 * either the previous file or the new one, never a mix, so a restart always
 * comes back with the last good state.
 *
 * Threads: the hook runs on the application thread, where the JSON text is
 * produced (cheap, and the registries live there). The disk work (write,
 * two fsyncs) happens on one writer pthread so no reactor waits on the disk;
 * only the newest pending text is kept, so a burst of changes costs one
 * write. The reply of the change is held until the file is durable, so a
 * change that was acknowledged survives a crash. app_autosave_stop(), on the
 * app thread while it still runs (shutdown), flushes what is pending and
 * joins the writer.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app_internal.h"
#include "spur/app.h"
#include "spur/config.h"
#include "spur/thread.h"
#include "spur/log.h"

/* A reply held until the configuration it acknowledges is on disk. */
struct autosave_waiter {
	void (*resume)(void *ctx);
	void *ctx;
	struct autosave_waiter *next;
};

static struct {
	char *path;
	pthread_t writer;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	char *pending;                   /* newest text not yet written, under lock */
	struct autosave_waiter *waiters; /* replies waiting for pending, under lock */
	bool stopping;                   /* under lock */
	struct spur_thread *app;
} g_as = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static int
write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Write text to g_as.path atomically; returns 0 or a negative errno. */
static int
write_atomically(const char *text)
{
	char tmp[4096], dir[4096];
	int fd, dfd, rc;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", g_as.path, (int)getpid()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	snprintf(dir, sizeof(dir), "%s", g_as.path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	rc = write_all(fd, text, strlen(text));
	if (rc == 0 && fsync(fd) != 0)
		rc = -errno;
	close(fd);
	if (rc == 0 && rename(tmp, g_as.path) != 0)
		rc = -errno;
	if (rc != 0) {
		unlink(tmp);
		return rc;
	}
	dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	if (fsync(dfd) != 0)
		rc = -errno;
	close(dfd);
	return rc;
}

/* On the app thread: let a held reply go. */
static void
resume_waiter(void *ctx)
{
	struct autosave_waiter *w = ctx;

	w->resume(w->ctx);
	free(w);
}

static void *
writer_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&g_as.lock);
	for (;;) {
		struct autosave_waiter *waiters;
		char *text;
		int rc;

		while (g_as.pending == NULL && !g_as.stopping)
			pthread_cond_wait(&g_as.cond, &g_as.lock);
		if (g_as.pending == NULL)
			break;
		/* The newest text includes every change whose reply waits. */
		text = g_as.pending;
		waiters = g_as.waiters;
		g_as.pending = NULL;
		g_as.waiters = NULL;
		pthread_mutex_unlock(&g_as.lock);
		rc = write_atomically(text);
		if (rc != 0)
			SPUR_ERRLOG("cannot save the configuration to %s: %s", g_as.path,
				    strerror(-rc));
		else
			SPUR_DEBUGLOG("app", "configuration saved to %s", g_as.path);
		free(text);
		while (waiters != NULL) {
			struct autosave_waiter *next = waiters->next;

			while (spur_thread_send_msg(g_as.app, resume_waiter, waiters) == -ENOMEM)
				sched_yield();
			waiters = next;
		}
		pthread_mutex_lock(&g_as.lock);
	}
	pthread_mutex_unlock(&g_as.lock);
	return NULL;
}

/*
 * The config-changed hook, on the app thread: snapshot the configuration
 * now and hold the reply until the writer has made it durable. While
 * starting up (the -c file itself is being applied) nothing is written.
 */
static bool
config_changed(const char *method, void (*resume)(void *ctx), void *ctx)
{
	struct autosave_waiter *w;
	json_t *config;
	char *text;

	(void)method;
	if (!spur_app_is_running())
		return false;
	w = calloc(1, sizeof(*w));
	config = spur_config_dump();
	text = json_dumps(config, JSON_INDENT(2));
	json_decref(config);
	if (w == NULL || text == NULL) {
		SPUR_ERRLOG("cannot save the configuration: out of memory");
		free(w);
		free(text);
		return false;
	}
	w->resume = resume;
	w->ctx = ctx;
	g_as.app = spur_get_thread();
	pthread_mutex_lock(&g_as.lock);
	free(g_as.pending);
	g_as.pending = text;
	w->next = g_as.waiters;
	g_as.waiters = w;
	pthread_cond_signal(&g_as.cond);
	pthread_mutex_unlock(&g_as.lock);
	return true;
}

int
app_autosave_start(const char *path)
{
	int rc;

	g_as.path = strdup(path);
	if (g_as.path == NULL)
		return -ENOMEM;
	rc = pthread_create(&g_as.writer, NULL, writer_main, NULL);
	if (rc != 0) {
		free(g_as.path);
		g_as.path = NULL;
		return -rc;
	}
	g_as.started = true;
	spur_rpc_set_config_changed_hook(config_changed);
	return 0;
}

void
app_autosave_stop(void)
{
	if (!g_as.started)
		return;
	spur_rpc_set_config_changed_hook(NULL);
	pthread_mutex_lock(&g_as.lock);
	g_as.stopping = true;
	pthread_cond_signal(&g_as.cond);
	pthread_mutex_unlock(&g_as.lock);
	pthread_join(g_as.writer, NULL);
	g_as.started = false;
	free(g_as.path);
	g_as.path = NULL;
}
