/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * I/O devices and their per-thread channels, and the for-each-channel walk.
 *
 * Owns the registry of devices (g_devs under g_devs_lock; control path only)
 * and every struct spur_io_channel. A channel lives in its thread's
 * 'channels' list and is touched only on that thread; the device's
 * channel_count and for_each_count change under g_devs_lock.
 *
 * Device life cycle:
 *
 *   registered --spur_io_device_unregister--> unregistering --channel_count
 *   (in g_devs)     (leaves g_devs: new gets fail)   and for_each_count reach 0-->
 *   unregister_cb on the unregistering thread, device freed
 *
 * Exactly one party sees both counts reach zero with 'unregistered' set,
 * under the lock, and completes the unregistration (dev_complete).
 *
 * Channel life cycle: created by the first spur_get_io_channel on a thread
 * (ref 1), ref++ on later gets; the put that drops ref to 0 queues a
 * destroy message to the thread, and destroy_cb runs there, never inside
 * put. A get before that message runs revives the channel (ref 1 again) and
 * the message then does nothing.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spur/log.h"
#include "thread_internal.h"

struct thread_io_device {
	void *io_device;
	spur_io_channel_create_cb create_cb;
	spur_io_channel_destroy_cb destroy_cb;
	uint32_t ctx_size;
	char name[64];
	/* Under g_devs_lock. */
	uint32_t channel_count;
	uint32_t for_each_count;
	bool unregistered;
	spur_io_device_unregister_cb unregister_cb;
	struct spur_thread *unregister_thread;
	TAILQ_ENTRY(thread_io_device) link;
};

struct spur_io_channel_iter {
	void *io_device;
	struct thread_io_device *dev;
	spur_channel_msg fn;
	void *ctx;
	spur_channel_for_each_cpl cpl;
	struct spur_thread *orig;
	struct spur_thread *cur;
	struct spur_io_channel *ch;
	int status;
};

static pthread_mutex_t g_devs_lock = PTHREAD_MUTEX_INITIALIZER;
static TAILQ_HEAD(, thread_io_device) g_devs = TAILQ_HEAD_INITIALIZER(g_devs);

static struct thread_io_device *
dev_find_locked(void *io_device)
{
	struct thread_io_device *dev;

	TAILQ_FOREACH(dev, &g_devs, link) {
		if (dev->io_device == io_device) {
			return dev;
		}
	}
	return NULL;
}

static bool
dev_done_locked(const struct thread_io_device *dev)
{
	return dev->unregistered && dev->channel_count == 0 && dev->for_each_count == 0;
}

static void
dev_unregister_done(void *arg)
{
	struct thread_io_device *dev = arg;

	if (dev->unregister_cb != NULL) {
		dev->unregister_cb(dev->io_device);
	}
	free(dev);
}

/* The device is unregistered and unused: run unregister_cb where asked. */
static void
dev_complete(struct thread_io_device *dev)
{
	int rc;

	if (dev->unregister_thread != NULL) {
		rc = spur_thread_send_msg(dev->unregister_thread, dev_unregister_done, dev);
		if (rc == 0) {
			return;
		}
		SPUR_ERRLOG("io_device %s: unregistering thread gone (%s); completing here\n",
			    dev->name, strerror(-rc));
	}
	dev_unregister_done(dev);
}

/* Drop one use (channel or walk) of dev; completes a pending unregister. */
static void
dev_release(struct thread_io_device *dev, bool channel)
{
	bool done;

	pthread_mutex_lock(&g_devs_lock);
	if (channel) {
		dev->channel_count--;
	} else {
		dev->for_each_count--;
	}
	done = dev_done_locked(dev);
	pthread_mutex_unlock(&g_devs_lock);
	if (done) {
		dev_complete(dev);
	}
}

void
spur_io_device_register(void *io_device, spur_io_channel_create_cb create_cb,
			spur_io_channel_destroy_cb destroy_cb, uint32_t ctx_size,
			const char *name)
{
	struct thread_io_device *dev;

	if (io_device == NULL || create_cb == NULL) {
		SPUR_ERRLOG("io_device %s: missing device or create callback\n",
			    name ? name : "");
		return;
	}
	dev = calloc(1, sizeof(*dev));
	if (dev == NULL) {
		SPUR_ERRLOG("io_device %s: out of memory\n", name ? name : "");
		return;
	}
	dev->io_device = io_device;
	dev->create_cb = create_cb;
	dev->destroy_cb = destroy_cb;
	dev->ctx_size = ctx_size;
	snprintf(dev->name, sizeof(dev->name), "%s", name ? name : "io_device");

	pthread_mutex_lock(&g_devs_lock);
	if (dev_find_locked(io_device) != NULL) {
		pthread_mutex_unlock(&g_devs_lock);
		SPUR_ERRLOG("io_device %s (%p) already registered\n", dev->name, io_device);
		free(dev);
		return;
	}
	TAILQ_INSERT_TAIL(&g_devs, dev, link);
	pthread_mutex_unlock(&g_devs_lock);
}

void
spur_io_device_unregister(void *io_device, spur_io_device_unregister_cb unregister_cb)
{
	struct thread_io_device *dev;
	bool done;

	pthread_mutex_lock(&g_devs_lock);
	dev = dev_find_locked(io_device);
	if (dev == NULL) {
		pthread_mutex_unlock(&g_devs_lock);
		SPUR_ERRLOG("io_device %p is not registered\n", io_device);
		return;
	}
	TAILQ_REMOVE(&g_devs, dev, link);
	dev->unregistered = true;
	dev->unregister_cb = unregister_cb;
	dev->unregister_thread = spur_get_thread();
	done = dev_done_locked(dev);
	pthread_mutex_unlock(&g_devs_lock);
	if (done) {
		dev_complete(dev);
	}
}

struct spur_io_channel *
spur_get_io_channel(void *io_device)
{
	struct spur_thread *t = spur_get_thread();
	struct thread_io_device *dev;
	struct spur_io_channel *ch;
	int rc;

	if (t == NULL) {
		SPUR_ERRLOG("spur_get_io_channel called outside a spur thread\n");
		return NULL;
	}
	pthread_mutex_lock(&g_devs_lock);
	dev = dev_find_locked(io_device);
	if (dev == NULL) {
		pthread_mutex_unlock(&g_devs_lock);
		return NULL;
	}
	TAILQ_FOREACH(ch, &t->channels, tlink) {
		if (ch->dev == dev) {
			ch->ref++;
			pthread_mutex_unlock(&g_devs_lock);
			return ch;
		}
	}
	/* Counted before create_cb so that unregister waits for it. */
	dev->channel_count++;
	pthread_mutex_unlock(&g_devs_lock);

	ch = calloc(1, sizeof(*ch) + dev->ctx_size);
	if (ch == NULL) {
		SPUR_ERRLOG("io_device %s: out of memory for a channel\n", dev->name);
		dev_release(dev, true);
		return NULL;
	}
	ch->thread = t;
	ch->dev = dev;
	ch->ref = 1;
	rc = dev->create_cb(io_device, ch->ctx);
	if (rc != 0) {
		SPUR_ERRLOG("io_device %s: channel creation failed on thread %s: %s\n",
			    dev->name, t->name, strerror(rc < 0 ? -rc : rc));
		free(ch);
		dev_release(dev, true);
		return NULL;
	}
	TAILQ_INSERT_TAIL(&t->channels, ch, tlink);
	return ch;
}

static void
channel_destroy(struct spur_io_channel *ch)
{
	struct thread_io_device *dev = ch->dev;

	TAILQ_REMOVE(&ch->thread->channels, ch, tlink);
	if (dev->destroy_cb != NULL) {
		dev->destroy_cb(dev->io_device, ch->ctx);
	}
	free(ch);
	dev_release(dev, true);
}

static void
channel_destroy_msg(void *arg)
{
	struct spur_io_channel *ch = arg;

	ch->destroy_pending = false;
	if (ch->ref == 0) {
		channel_destroy(ch);
	}
}

void
spur_put_io_channel(struct spur_io_channel *ch)
{
	int rc;

	if (ch == NULL) {
		return;
	}
	if (ch->thread != spur_get_thread()) {
		SPUR_ERRLOG("io_device %s: channel put from another thread\n", ch->dev->name);
		return;
	}
	if (ch->ref == 0) {
		SPUR_ERRLOG("io_device %s: channel put once too often\n", ch->dev->name);
		return;
	}
	if (--ch->ref > 0 || ch->destroy_pending) {
		return;
	}
	rc = spur_thread_send_msg(ch->thread, channel_destroy_msg, ch);
	if (rc != 0) {
		/* Only a full queue can get here: the thread cannot exit with a channel. */
		SPUR_ERRLOG("io_device %s: cannot queue channel destruction: %s\n",
			    ch->dev->name, strerror(-rc));
		return;
	}
	ch->destroy_pending = true;
}

void *
spur_io_channel_get_ctx(struct spur_io_channel *ch)
{
	return ch->ctx;
}

struct spur_io_channel *
spur_io_channel_from_ctx(void *ctx)
{
	return SPUR_CONTAINER_OF(ctx, struct spur_io_channel, ctx);
}

struct spur_thread *
spur_io_channel_get_thread(struct spur_io_channel *ch)
{
	return ch->thread;
}

void *
spur_io_channel_get_io_device(struct spur_io_channel *ch)
{
	return ch->dev->io_device;
}

void
thread_channels_force_release(struct spur_thread *t)
{
	struct spur_io_channel *ch;

	while ((ch = TAILQ_FIRST(&t->channels)) != NULL) {
		SPUR_ERRLOG("thread %s: destroying channel of %s left at exit (ref %u)\n",
			    t->name, ch->dev->name, ch->ref);
		channel_destroy(ch);
	}
}

/* ---- spur_for_each_channel ---------------------------------------------- */

static void iter_visit(void *arg);

static void
iter_done(void *arg)
{
	struct spur_io_channel_iter *i = arg;
	struct thread_io_device *dev = i->dev;

	i->ch = NULL;
	i->cpl(i, i->status);
	free(i);
	if (dev != NULL) {
		dev_release(dev, false);
	}
}

/* With the thread list locked: go to 'next' or a later live thread, or finish. */
static void
iter_hop_locked(struct spur_io_channel_iter *i, struct spur_thread *next)
{
	int rc;

	for (; next != NULL; next = thread_list_next(next)) {
		i->cur = next;
		rc = spur_thread_send_msg(next, iter_visit, i);
		if (rc == 0) {
			return;
		}
		if (rc != -EIO) {
			SPUR_ERRLOG("for_each_channel: skipping thread %s: %s\n", next->name,
				    strerror(-rc));
		}
	}
	rc = spur_thread_send_msg(i->orig, iter_done, i);
	if (rc != 0) {
		SPUR_ERRLOG("for_each_channel: cannot complete on thread %s: %s\n",
			    i->orig->name, strerror(-rc));
		iter_done(i);
	}
}

static void
iter_next_thread(struct spur_io_channel_iter *i)
{
	thread_list_lock();
	iter_hop_locked(i, thread_list_next(i->cur));
	thread_list_unlock();
}

static void
iter_visit(void *arg)
{
	struct spur_io_channel_iter *i = arg;
	struct spur_io_channel *ch;

	TAILQ_FOREACH(ch, &i->cur->channels, tlink) {
		if (ch->dev == i->dev && ch->ref > 0) {
			i->ch = ch;
			i->fn(i);
			return;
		}
	}
	iter_next_thread(i);
}

void
spur_for_each_channel(void *io_device, spur_channel_msg fn, void *ctx,
		      spur_channel_for_each_cpl cpl)
{
	struct spur_thread *orig = spur_get_thread();
	struct spur_io_channel_iter *i;

	if (orig == NULL) {
		SPUR_ERRLOG("spur_for_each_channel called outside a spur thread\n");
		return;
	}
	i = calloc(1, sizeof(*i));
	if (i == NULL) {
		SPUR_ERRLOG("spur_for_each_channel: out of memory\n");
		return;
	}
	i->io_device = io_device;
	i->fn = fn;
	i->ctx = ctx;
	i->cpl = cpl;
	i->orig = orig;

	pthread_mutex_lock(&g_devs_lock);
	i->dev = dev_find_locked(io_device);
	if (i->dev != NULL) {
		i->dev->for_each_count++;
	}
	pthread_mutex_unlock(&g_devs_lock);
	if (i->dev == NULL) {
		i->status = -ENODEV;
		thread_list_lock();
		iter_hop_locked(i, NULL);
		thread_list_unlock();
		return;
	}
	thread_list_lock();
	iter_hop_locked(i, thread_list_next(NULL));
	thread_list_unlock();
}

void
spur_for_each_channel_continue(struct spur_io_channel_iter *i, int status)
{
	if (i->cur != spur_get_thread()) {
		SPUR_ERRLOG("for_each_channel: continue called on thread %s, expected %s\n",
			    spur_get_thread() ? spur_get_thread()->name : "(none)",
			    i->cur->name);
	}
	i->ch = NULL;
	i->status = status;
	if (status != 0) {
		thread_list_lock();
		iter_hop_locked(i, NULL);
		thread_list_unlock();
		return;
	}
	iter_next_thread(i);
}

void *
spur_io_channel_iter_get_ctx(struct spur_io_channel_iter *i)
{
	return i->ctx;
}

struct spur_io_channel *
spur_io_channel_iter_get_channel(struct spur_io_channel_iter *i)
{
	return i->ch;
}

void *
spur_io_channel_iter_get_io_device(struct spur_io_channel_iter *i)
{
	return i->io_device;
}
