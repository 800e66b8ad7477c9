/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Poll groups: one lightweight thread per core ("vhost_pg<core>", created
 * on first use, pinned to that core, shared by every controller) that
 * drives the started queues placed on it; and the queue operations that
 * cross between the application thread and a poll group: start, stop,
 * memory-table switch, call-fd swap, coalescing.
 *
 * Placement: queue i of a controller runs on core number (i mod n) of the
 * n cores of the controller's cpumask.
 *
 * A started queue has one poller ("vhost_<ctrlr>_q<i>", every iteration)
 * that calls the backend's queue_poll, with the kick eventfd registered so
 * a sleeping reactor wakes on a guest kick, and sleep hooks: while the
 * reactor polls, the queue suppresses guest notifications; before it sleeps
 * the queue asks for them again and re-checks its ring (any work, or a
 * signal the coalescing still owes, cancels the sleep); after the reactor
 * wakes it suppresses them again and drains the kick eventfd (one read per
 * wake-up, nothing on the busy path: the reactor's epoll is edge-triggered
 * and every kick is a new edge, so an undrained counter loses nothing). A
 * queue without a kick fd (NOFD: the frontend never kicks) keeps its
 * reactor awake.
 *
 * Operation protocol: the application thread sets sq->op, takes what the
 * poll group will own (a memory reference, an fd), bumps s->pending and
 * sends the message; the poll group does the work, writes op_rc / op_err
 * and sends the ack back; the ack handler (application thread) finishes
 * the state change and calls vhost_session_op_done. Messages between two
 * threads are FIFO, so a queue's later messages (a coalescing change, a
 * broken-ring report) never overtake its stop ack.
 *
 * Memory: a started queue holds one reference on q->mem. A switch installs
 * the new table at once; the old one is retired (q->old_mem, older ones in
 * sq->retired) while requests taken before the switch are in flight:
 * old_mem_inflight counts requests whose table is not q->mem, and when it
 * reaches 0 every retired table is put (vhost_queue_request_begin/end).
 *
 * Threads: vhost_pg_queue_* and the ack handlers run on the application
 * thread; pg_* message handlers, the poller, the hooks and
 * vhost_queue_request_begin/end on the queue's poll-group thread.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "vhost_user.h"

static struct spur_thread *g_pg_threads[SPUR_MAX_CORES];

/*
 * Reactor pthreads start with every signal blocked, and a SIGBUS raised by
 * an access while blocked kills the process whatever its handler: let the
 * guest-memory guard of vhost_mem.c (a frontend truncating its memory) work
 * on this thread's reactor. The first message a poll group runs.
 */
static void
pg_unblock_sigbus(void *ctx)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGBUS);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

struct spur_thread *
vhost_pg_get_thread(uint32_t core)
{
	struct spur_cpuset mask;
	char name[32];

	if (core >= SPUR_MAX_CORES) {
		return NULL;
	}
	if (g_pg_threads[core] == NULL) {
		spur_cpuset_zero(&mask);
		spur_cpuset_set(&mask, core);
		snprintf(name, sizeof(name), "vhost_pg%u", core);
		g_pg_threads[core] = spur_thread_create(name, &mask);
		if (g_pg_threads[core] != NULL) {
			spur_thread_send_msg(g_pg_threads[core], pg_unblock_sigbus, NULL);
		}
	}
	return g_pg_threads[core];
}

static void
pg_exit_msg(void *ctx)
{
	spur_thread_exit(spur_get_thread());
}

void
vhost_pg_fini(void)
{
	uint32_t i;

	for (i = 0; i < SPUR_MAX_CORES; i++) {
		if (g_pg_threads[i] != NULL) {
			spur_thread_send_msg(g_pg_threads[i], pg_exit_msg, NULL);
			g_pg_threads[i] = NULL;
		}
	}
}

/* Core of the n-th (mod count) core of the controller's cpumask. */
static uint32_t
queue_core(const struct vhost_ctrlr *c, uint16_t index)
{
	uint32_t core, n = spur_cpuset_count(&c->cpumask), k;

	if (n == 0) {
		return UINT32_MAX;
	}
	k = index % n;
	SPUR_CPUSET_FOREACH(core, &c->cpumask) {
		if (k-- == 0) {
			return core;
		}
	}
	return UINT32_MAX;
}

/* ---- memory accounting (poll-group thread) -------------------------------------- */

static void
release_retired(struct vhost_session_queue *sq)
{
	uint32_t i;

	vhost_mem_put(sq->q.old_mem);
	sq->q.old_mem = NULL;
	for (i = 0; i < sq->nretired; i++) {
		vhost_mem_put(sq->retired[i]);
	}
	sq->nretired = 0;
}

struct vhost_mem *
vhost_queue_request_begin(struct vhost_queue *q)
{
	q->inflight++;
	return q->mem;
}

void
vhost_queue_request_end(struct vhost_queue *q, struct vhost_mem *mem)
{
	q->inflight--;
	if (spur_unlikely(mem != q->mem) && --q->old_mem_inflight == 0) {
		release_retired(vhost_sq(q));
	}
}

struct vhost_ctrlr *
vhost_queue_get_ctrlr(const struct vhost_queue *q)
{
	return q->session->ctrlr;
}

uint64_t
vhost_queue_get_features(const struct vhost_queue *q)
{
	/* SET_FEATURES is refused while a queue runs; the start message ordered it. */
	return q->session->features;
}

/* Keep old (the table q->mem was) until the requests in flight now are done. */
static void
retire(struct vhost_session_queue *sq, struct vhost_mem *old)
{
	struct vhost_mem **grown;
	uint32_t cap;

	if (sq->q.inflight == 0) {
		vhost_mem_put(old);
		return;
	}
	sq->q.old_mem_inflight = sq->q.inflight;
	if (sq->q.old_mem == NULL) {
		sq->q.old_mem = old;
		return;
	}
	if (sq->nretired == sq->retired_cap) {
		cap = sq->retired_cap ? 2 * sq->retired_cap : 4;
		grown = realloc(sq->retired, cap * sizeof(*grown));
		if (grown == NULL) {
			/* Never unmap under a request: keep the table for good. */
			SPUR_ERRLOG("%s: queue %u: out of memory, leaking a memory table\n",
				    sq->q.session->ctrlr->name, sq->q.index);
			return;
		}
		sq->retired = grown;
		sq->retired_cap = cap;
	}
	sq->retired[sq->nretired++] = old;
}

/* ---- messages from a poll group to the application thread ------------------------ */

static void app_op_done(void *ctx);

static int
ack_retry_poll(void *ctx)
{
	struct vhost_session_queue *sq = ctx;

	if (spur_thread_send_msg(sq->q.session->thread, app_op_done, sq) == 0) {
		spur_poller_unregister(&sq->ack_retry);
	}
	return SPUR_POLLER_BUSY;
}

/* Poll group: the operation is done, tell the application thread. */
static void
pg_ack(struct vhost_session_queue *sq)
{
	if (spur_thread_send_msg(sq->q.session->thread, app_op_done, sq) == 0) {
		return;
	}
	/* The application thread's queue is full: try again shortly. */
	sq->ack_retry = spur_poller_register(ack_retry_poll, sq, 1000, "vhost_ack_retry");
	if (sq->ack_retry == NULL) {
		SPUR_ERRLOG("%s: queue %u: cannot acknowledge an operation; the session hangs\n",
			    sq->q.session->ctrlr->name, sq->q.index);
	}
}

static void
app_broken(void *ctx)
{
	struct vhost_session_queue *sq = ctx;
	uint64_t one = 1;

	sq->broken = true;
	/* Tell the frontend (QEMU logs it); the status reports NEEDS_RESET. */
	if (sq->q.err_fd >= 0 && write(sq->q.err_fd, &one, sizeof(one)) < 0) {
		/* Saturated or nobody listens: the status still says it. */
	}
}

/* ---- the queue poller and its sleep hooks (poll-group thread) ------------------- */

static int
pg_poll(void *ctx)
{
	struct vhost_session_queue *sq = ctx;
	struct vhost_queue *q = &sq->q;
	int rc = sq->ops->queue_poll(q);

	/* The frontend truncated guest memory (zero pages now, see vhost_mem.c): stop. */
	if (spur_unlikely(q->mem->may_vanish) && !sq->broken_reported &&
	    vhost_mem_vanished(q->mem)) {
		q->vq.broken = true;
		q->vq.broken_reason = "guest memory truncated by the frontend";
	}
	if (spur_unlikely(q->vq.broken) && !sq->broken_reported) {
		sq->broken_reported = true;
		SPUR_ERRLOG("%s: queue %u: ring broken (%s); the device needs a reset\n",
			    q->session->ctrlr->name, q->index,
			    q->vq.broken_reason ? q->vq.broken_reason : "invalid ring state");
		spur_thread_send_msg(q->session->thread, app_broken, sq);
	}
	return rc;
}

static bool
pg_before_sleep(void *ctx)
{
	struct vhost_session_queue *sq = ctx;
	struct virtq *vq = &sq->q.vq;

	if (vq->broken) {
		return false;
	}
	/* No kick fd: the frontend will never wake us; keep polling. */
	if (sq->q.kick_fd < 0) {
		return true;
	}
	/* Coalescing still owes the guest a signal: it is sent by a later flush. */
	if (virtq_signal_pending(vq)) {
		return true;
	}
	virtq_set_notify(vq, true);
	sq->notify_on = true;
	atomic_thread_fence(memory_order_seq_cst);
	return virtq_has_work(vq);
}

static void
pg_after_wake(void *ctx)
{
	struct vhost_session_queue *sq = ctx;
	uint64_t v;

	if (!sq->notify_on) {
		return;
	}
	sq->notify_on = false;
	virtq_set_notify(&sq->q.vq, false);
	/* One read empties an eventfd; nonblocking (set at SET_VRING_KICK). */
	if (read(sq->q.kick_fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: no kick came (woken for another reason). */
	}
}

/* ---- start ----------------------------------------------------------------------- */

/* One interrupt to the driver on call fd (if any); a saturated counter means it has one. */
static void
pg_signal_once(int call_fd)
{
	uint64_t one = 1;

	if (call_fd >= 0 && write(call_fd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the driver is signalled already. */
	}
}

static void
pg_start(void *ctx)
{
	struct vhost_session_queue *sq = ctx;
	struct vhost_queue *q = &sq->q;
	const struct vhost_backend_ops *ops = q->session->ctrlr->ops;
	int rc, n;

	sq->op_rc = 0;
	q->poller = spur_poller_register(pg_poll, sq, 0, sq->poller_name);
	if (q->poller == NULL) {
		sq->op_rc = -ENOMEM;
		sq->op_err = "cannot register the poller";
		goto out;
	}
	if (q->kick_fd >= 0) {
		rc = spur_poller_add_fd(q->poller, q->kick_fd, EPOLLIN);
		if (rc != 0) {
			sq->op_rc = rc;
			sq->op_err = "cannot watch the kick fd";
			goto fail;
		}
	}
	spur_poller_set_sleep_hook(q->poller, pg_before_sleep, pg_after_wake);
	rc = ops->queue_start(q);
	if (rc != 0) {
		sq->op_rc = rc < 0 ? rc : -EIO;
		sq->op_err = "the backend cannot start the queue";
		goto fail;
	}
	/* Polling from now on: the guest need not kick. */
	virtq_set_notify(&q->vq, false);
	sq->notify_on = false;
	if (sq->recover) {
		n = virtq_recover(&q->vq, sq->recover_ids);
		if (n > 0) {
			SPUR_NOTICELOG("%s: queue %u: resubmitting %d request(s) in flight before "
				       "the reconnection\n", q->session->ctrlr->name, q->index, n);
			ops->queue_resubmit(q, sq->recover_ids, n);
		} else if (n < 0) {
			SPUR_ERRLOG("%s: queue %u: inflight region unusable (%d); nothing resubmitted\n",
				    q->session->ctrlr->name, q->index, n);
		}
		/*
		 * The previous process may have published used entries and died
		 * before it signalled them (SIGKILL between the two): QEMU does
		 * not interrupt the guest on reconnection, so without this the
		 * driver would wait for them forever. A spurious interrupt costs
		 * it one look at its used ring.
		 */
		pg_signal_once(q->vq.call_fd);
	}
	goto out;

fail:
	spur_poller_unregister(&q->poller);
out:
	pg_ack(sq);
}

int
vhost_pg_queue_start(struct vhost_session *s, struct vhost_session_queue *sq)
{
	struct vhost_ctrlr *c = s->ctrlr;
	struct vhost_queue *q = &sq->q;
	struct spur_thread *thread;
	const char *err = NULL;
	uint32_t core;
	int rc;

	q->cfg.packed = vhost_session_has_feature(s, VHOST_VIRTIO_F_RING_PACKED);
	q->cfg.event_idx = vhost_session_has_feature(s, VHOST_VIRTIO_F_EVENT_IDX);
	q->cfg.indirect = vhost_session_has_feature(s, VHOST_VIRTIO_F_INDIRECT_DESC);
	if (!q->cfg.packed && (q->cfg.size & (q->cfg.size - 1)) != 0) {
		return vhost_msg_error(s, "queue %u: ring size %u is not a power of two", q->index,
				       q->cfg.size);
	}
	if (!q->cfg.packed) {
		q->cfg.used_base = 0;
	}
	core = queue_core(c, q->index);
	thread = core == UINT32_MAX ? NULL : vhost_pg_get_thread(core);
	if (thread == NULL) {
		return vhost_msg_error(s, "queue %u: no poll group on core %u", q->index, core);
	}
	rc = virtq_init(&q->vq, &q->cfg, s->mem, q->call_fd, &err);
	if (rc != 0) {
		return vhost_msg_error(s, "queue %u: %s", q->index, err ? err : "invalid ring");
	}
	virtq_set_coalescing(&q->vq, c->coalesce_delay_us, c->coalesce_iops_threshold);
	sq->recover = false;
	rc = vhost_inflight_attach_queue(s, sq, &sq->recover, &err);
	if (rc != 0) {
		virtq_fini(&q->vq);
		return vhost_msg_error(s, "queue %u: %s", q->index, err);
	}
	if (sq->recover) {
		sq->recover_ids = calloc(q->cfg.size, sizeof(*sq->recover_ids));
		if (sq->recover_ids == NULL) {
			virtq_fini(&q->vq);
			return vhost_msg_error(s, "queue %u: out of memory", q->index);
		}
	}
	snprintf(sq->poller_name, sizeof(sq->poller_name), "vhost_%s_q%u", c->name, q->index);
	vhost_mem_get(s->mem);
	q->mem = s->mem;
	q->old_mem = NULL;
	q->inflight = 0;
	q->old_mem_inflight = 0;
	q->pg_thread = thread;
	sq->ops = c->ops;
	sq->broken_reported = false;
	sq->op = VHOST_PG_OP_START;
	q->state = VHOST_QUEUE_STARTING;
	SPUR_DEBUGLOG(VHOST_LOG, "%s: queue %u starting on %s (size %u, %s%s%s)\n", c->name,
		      q->index, spur_thread_get_name(thread), q->cfg.size,
		      q->cfg.packed ? "packed" : "split", q->cfg.event_idx ? ", event_idx" : "",
		      sq->recover ? ", recovering" : "");
	s->pending++;
	if (spur_thread_send_msg(thread, pg_start, sq) != 0) {
		s->pending--;
		sq->op = VHOST_PG_OP_NONE;
		q->state = VHOST_QUEUE_IDLE;
		vhost_mem_put(q->mem);
		q->mem = NULL;
		virtq_fini(&q->vq);
		free(sq->recover_ids);
		sq->recover_ids = NULL;
		return vhost_msg_error(s, "queue %u: cannot reach poll group %s", q->index,
				       spur_thread_get_name(thread));
	}
	return 0;
}

/* ---- stop ---------------------------------------------------------------------- */

/* The backend drained the queue (poll-group thread, maybe inside the poller). */
static void
pg_stop_done(struct vhost_queue *q)
{
	struct vhost_session_queue *sq = vhost_sq(q);

	spur_poller_unregister(&q->poller);
	sq->notify_on = false;
	/* Where the frontend resumes: GET_VRING_BASE or the next start. */
	q->cfg.base = virtq_get_base(&q->vq);
	if (q->cfg.packed) {
		q->cfg.used_base = virtq_get_used_base(&q->vq);
	}
	if (q->inflight != 0) {
		SPUR_ERRLOG("%s: queue %u stopped with %u request(s) still counted in flight\n",
			    q->session->ctrlr->name, q->index, q->inflight);
	}
	virtq_fini(&q->vq);
	release_retired(sq);
	free(sq->retired);
	sq->retired = NULL;
	sq->retired_cap = 0;
	vhost_mem_put(q->mem);
	q->mem = NULL;
	q->inflight = 0;
	q->old_mem_inflight = 0;
	sq->op_rc = 0;
	pg_ack(sq);
}

static void
pg_stop(void *ctx)
{
	struct vhost_session_queue *sq = ctx;
	struct vhost_queue *q = &sq->q;

	q->stop_done = pg_stop_done;
	q->session->ctrlr->ops->queue_stop(q, pg_stop_done);
}

void
vhost_pg_queue_stop(struct vhost_session *s, struct vhost_session_queue *sq,
		    enum vhost_stop_reason reason)
{
	struct vhost_queue *q = &sq->q;

	static const char *const why[] = {
		[VHOST_STOP_DISABLE] = "disabled", [VHOST_STOP_GET_BASE] = "GET_VRING_BASE",
		[VHOST_STOP_RESET] = "reset", [VHOST_STOP_CLOSE] = "session closing",
	};

	SPUR_DEBUGLOG(VHOST_LOG, "%s: queue %u stopping (%s)\n", s->ctrlr->name, q->index,
		      why[reason]);
	sq->op = VHOST_PG_OP_STOP;
	q->state = VHOST_QUEUE_STOPPING;
	s->pending++;
	if (spur_thread_send_msg(q->pg_thread, pg_stop, sq) != 0) {
		/* The queue keeps running; the session cannot free it. */
		SPUR_ERRLOG("%s: queue %u: cannot reach its poll group to stop it\n",
			    s->ctrlr->name, q->index);
		sq->op = VHOST_PG_OP_NONE;
		q->state = VHOST_QUEUE_STARTED;
		s->pending--;
		s->pending_err = s->pending_err ? s->pending_err : -EIO;
		vhost_session_close(s);
	}
}

/* ---- memory switch, call fd, coalescing -------------------------------------------- */

static void
pg_set_mem(void *ctx)
{
	struct vhost_session_queue *sq = ctx;
	struct vhost_queue *q = &sq->q;
	struct vhost_mem *mem = sq->new_mem, *old = q->mem;
	const char *err = NULL;

	sq->new_mem = NULL;
	sq->op_rc = virtq_set_mem(&q->vq, mem, &err);
	if (sq->op_rc != 0) {
		sq->op_err = err ? err : "the ring is not in the new memory table";
		vhost_mem_put(mem);
	} else {
		q->mem = mem;
		retire(sq, old);
	}
	pg_ack(sq);
}

void
vhost_pg_queue_set_mem(struct vhost_session *s, struct vhost_session_queue *sq,
		       struct vhost_mem *mem)
{
	vhost_mem_get(mem);
	sq->new_mem = mem;
	sq->op = VHOST_PG_OP_SET_MEM;
	s->pending++;
	if (spur_thread_send_msg(sq->q.pg_thread, pg_set_mem, sq) != 0) {
		sq->new_mem = NULL;
		vhost_mem_put(mem);
		sq->op = VHOST_PG_OP_NONE;
		s->pending--;
		vhost_msg_error(s, "queue %u: cannot reach its poll group", sq->q.index);
	}
}

static void
pg_set_call(void *ctx)
{
	struct vhost_session_queue *sq = ctx;

	/* Signals from now on go to the new fd; the old one is closed after the ack. */
	sq->q.vq.call_fd = sq->new_call_fd;
	/*
	 * The frontend does not wait for this message: QEMU's vhost-user-scsi
	 * enables the rings with its masked notifier as call fd, then swaps in
	 * the guest's, while the guest already sends requests; a completion
	 * signalled on the old fd in between is read by nobody. Signal the new
	 * fd once: a spurious interrupt costs the driver one look at its used
	 * ring, a lost one can hang it.
	 */
	pg_signal_once(sq->new_call_fd);
	sq->op_rc = 0;
	pg_ack(sq);
}

void
vhost_pg_queue_set_call(struct vhost_session *s, struct vhost_session_queue *sq, int fd)
{
	sq->new_call_fd = fd;
	sq->old_call_fd = sq->q.call_fd;
	sq->q.call_fd = fd;
	sq->op = VHOST_PG_OP_SET_CALL;
	s->pending++;
	if (spur_thread_send_msg(sq->q.pg_thread, pg_set_call, sq) != 0) {
		/* The queue keeps the old fd; ours closes the new one with the queue. */
		sq->q.call_fd = sq->old_call_fd;
		sq->old_call_fd = -1;
		if (fd >= 0) {
			close(fd);
		}
		sq->op = VHOST_PG_OP_NONE;
		s->pending--;
		vhost_msg_error(s, "queue %u: cannot reach its poll group", sq->q.index);
	}
}

struct coalesce_msg {
	struct vhost_session_queue *sq;
	uint32_t delay_us, iops;
};

static void
pg_set_coalescing(void *ctx)
{
	struct coalesce_msg *m = ctx;

	virtq_set_coalescing(&m->sq->q.vq, m->delay_us, m->iops);
	free(m);
}

void
vhost_pg_queue_set_coalescing(struct vhost_session_queue *sq, uint32_t delay_us,
			      uint32_t iops_threshold)
{
	struct coalesce_msg *m = malloc(sizeof(*m));

	if (m == NULL) {
		return;
	}
	m->sq = sq;
	m->delay_us = delay_us;
	m->iops = iops_threshold;
	/* FIFO with the stop message: it runs while the queue still exists. */
	if (spur_thread_send_msg(sq->q.pg_thread, pg_set_coalescing, m) != 0) {
		free(m);
	}
}

/* ---- acks (application thread) --------------------------------------------------- */

static void
app_op_done(void *ctx)
{
	struct vhost_session_queue *sq = ctx;
	struct vhost_queue *q = &sq->q;
	struct vhost_session *s = q->session;
	enum vhost_pg_op op = sq->op;
	int rc = sq->op_rc;

	sq->op = VHOST_PG_OP_NONE;
	switch (op) {
	case VHOST_PG_OP_START:
		free(sq->recover_ids);
		sq->recover_ids = NULL;
		if (rc == 0) {
			q->state = VHOST_QUEUE_STARTED;
			SPUR_DEBUGLOG(VHOST_LOG, "%s: queue %u started\n", s->ctrlr->name, q->index);
		} else {
			q->state = VHOST_QUEUE_IDLE;
			vhost_mem_put(q->mem);
			q->mem = NULL;
			virtq_fini(&q->vq);
		}
		break;
	case VHOST_PG_OP_STOP:
		q->state = VHOST_QUEUE_IDLE;
		SPUR_DEBUGLOG(VHOST_LOG, "%s: queue %u stopped at base 0x%x\n", s->ctrlr->name,
			      q->index, q->cfg.base);
		break;
	case VHOST_PG_OP_SET_MEM:
		if (rc == 0) {
			SPUR_DEBUGLOG(VHOST_LOG, "%s: queue %u switched to the new memory table\n",
				      s->ctrlr->name, q->index);
		}
		break;
	case VHOST_PG_OP_SET_CALL:
		if (sq->old_call_fd >= 0) {
			close(sq->old_call_fd);
			sq->old_call_fd = -1;
		}
		break;
	default:
		break;
	}
	if (rc != 0) {
		if (s->state == VHOST_SESSION_ACTIVE && s->in_msg) {
			vhost_msg_error(s, "queue %u: %s (%s)", q->index, sq->op_err, strerror(-rc));
		} else {
			SPUR_ERRLOG("%s: queue %u: %s (%s)\n", s->ctrlr->name, q->index, sq->op_err,
				    strerror(-rc));
		}
	}
	vhost_session_op_done(s, rc);
}
