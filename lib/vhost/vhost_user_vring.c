/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vhost-user ring and memory-table messages: SET_MEM_TABLE, ADD_MEM_REG,
 * REM_MEM_REG, SET_VRING_NUM / ADDR / BASE, GET_VRING_BASE,
 * SET_VRING_KICK / CALL / ERR and SET_VRING_ENABLE.
 *
 * Ring configuration is accepted only while the queue is IDLE (a running
 * ring's size or addresses cannot change under the poll group); ring sizes
 * are capped at VHOST_MAX_QUEUE_SIZE and queue indices at the device's
 * queue count (vhost_dev.h: what a frontend can make spur allocate); ring
 * addresses are checked against guest memory when the queue starts
 * (virtq_init). A ring starts once it has a size, addresses, a kick (fd or
 * NOFD polling), a memory table and is enabled (PROTOCOL_FEATURES
 * negotiated: after SET_VRING_ENABLE 1; otherwise at once). GET_VRING_BASE
 * stops it and answers only when the backend drained its in-flight I/O; the
 * kick is then forgotten, so the ring restarts only on a new SET_VRING_KICK.
 *
 * A memory table change while rings run builds the new table (reusing the
 * mappings of unchanged regions), hands it to every started queue's poll
 * group and acknowledges once every queue switched; requests still in
 * flight keep the old table alive until they complete (vhost_pg.c).
 *
 * Threads: application thread only.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "vhost_user.h"

/* The queue a ring message names, or NULL after logging the violation. */
static struct vhost_session_queue *
msg_queue(struct vhost_session *s, uint32_t index)
{
	if (index >= s->max_queues) {
		vhost_msg_error(s, "queue index %u out of range (the device has %u queues)", index,
				s->max_queues);
		return NULL;
	}
	return &s->queues[index];
}

/* Same, and the queue must not be running. */
static struct vhost_session_queue *
msg_idle_queue(struct vhost_session *s, uint32_t index)
{
	struct vhost_session_queue *sq = msg_queue(s, index);

	if (sq != NULL && sq->q.state != VHOST_QUEUE_IDLE) {
		vhost_msg_error(s, "queue %u is running", index);
		return NULL;
	}
	return sq;
}

static int
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) {
		return -errno;
	}
	return 0;
}

/* ---- memory ----------------------------------------------------------------------- */

static void
mem_switched(struct vhost_session *s)
{
	/* Rings that were only waiting for memory may start now. */
	vhost_session_start_ready(s);
}

/* Publish mem as the session's table and hand it to every running queue. */
static int
switch_mem(struct vhost_session *s, struct vhost_mem *mem)
{
	struct vhost_mem *old = s->mem;
	uint16_t i;

	s->mem = mem;
	for (i = 0; i < s->max_queues; i++) {
		if (s->queues[i].q.state == VHOST_QUEUE_STARTED) {
			vhost_pg_queue_set_mem(s, &s->queues[i], mem);
		}
	}
	/* Running queues hold their own references to the old table. */
	vhost_mem_put(old);
	s->finish = mem_switched;
	return 0;
}

static void
log_region(struct vhost_session *s, const char *what, uint32_t i,
	   const struct vhost_user_mem_region *r)
{
	SPUR_DEBUGLOG(VHOST_LOG, "%s: %s region %u: gpa 0x%" PRIx64 " size 0x%" PRIx64
		      " uva 0x%" PRIx64 " offset 0x%" PRIx64 "\n", s->ctrlr->name, what, i, r->gpa,
		      r->size, r->uva, r->mmap_offset);
}

int
vhost_user_set_mem_table(struct vhost_session *s)
{
	const struct vhost_user_memory *m = &s->payload.memory;
	struct vhost_mem_desc descs[VHOST_USER_MEM_BASELINE_REGIONS];
	struct vhost_mem *mem;
	const char *err = NULL;
	uint32_t i, n = m->nregions;

	SPUR_DEBUGLOG(VHOST_LOG, "%s: SET_MEM_TABLE %u regions\n", s->ctrlr->name, n);
	if (n > VHOST_USER_MEM_BASELINE_REGIONS) {
		return vhost_msg_error(s, "%u regions (at most %u)", n,
				       VHOST_USER_MEM_BASELINE_REGIONS);
	}
	if (s->hdr.size != 8 + n * sizeof(struct vhost_user_mem_region)) {
		return vhost_msg_error(s, "payload of %u bytes for %u regions", s->hdr.size, n);
	}
	if (s->rx_nfds != n) {
		return vhost_msg_error(s, "%u regions but %u file descriptors", n, s->rx_nfds);
	}
	for (i = 0; i < n; i++) {
		log_region(s, "SET_MEM_TABLE", i, &m->regions[i]);
		descs[i].gpa = m->regions[i].gpa;
		descs[i].size = m->regions[i].size;
		descs[i].uva = m->regions[i].uva;
		descs[i].mmap_offset = m->regions[i].mmap_offset;
		descs[i].fd = s->rx_fds[i];
		s->rx_fds[i] = -1;
	}
	mem = vhost_mem_build(descs, n, s->mem, &err);
	if (mem == NULL) {
		return vhost_msg_error(s, "%s", err);
	}
	return switch_mem(s, mem);
}

static void
mem_reg_desc(struct vhost_session *s, struct vhost_mem_desc *d)
{
	const struct vhost_user_mem_region *r = &s->payload.mem_reg.region;

	log_region(s, vhost_user_request_name(s->hdr.request), 0, r);
	d->gpa = r->gpa;
	d->size = r->size;
	d->uva = r->uva;
	d->mmap_offset = r->mmap_offset;
	d->fd = s->rx_nfds > 0 ? s->rx_fds[0] : -1;
	if (s->rx_nfds > 0) {
		s->rx_fds[0] = -1;
	}
}

int
vhost_user_add_mem_reg(struct vhost_session *s)
{
	struct vhost_mem_desc d;
	struct vhost_mem *mem;
	const char *err = NULL;

	mem_reg_desc(s, &d);
	mem = vhost_mem_add_region(s->mem, &d, &err);
	if (mem == NULL) {
		return vhost_msg_error(s, "%s", err);
	}
	return switch_mem(s, mem);
}

int
vhost_user_rem_mem_reg(struct vhost_session *s)
{
	struct vhost_mem_desc d;
	struct vhost_mem *mem;
	const char *err = NULL;

	mem_reg_desc(s, &d);
	if (s->mem == NULL) {
		if (d.fd >= 0) {
			close(d.fd);
		}
		return vhost_msg_error(s, "no memory table");
	}
	mem = vhost_mem_remove_region(s->mem, &d, &err);
	if (mem == NULL) {
		return vhost_msg_error(s, "%s", err);
	}
	return switch_mem(s, mem);
}

/* ---- ring configuration ----------------------------------------------------------- */

static bool
session_packed(const struct vhost_session *s)
{
	return vhost_session_has_feature(s, VHOST_VIRTIO_F_RING_PACKED);
}

int
vhost_user_set_vring_num(struct vhost_session *s)
{
	const struct vhost_user_vring_state *st = &s->payload.state;
	struct vhost_session_queue *sq;

	SPUR_DEBUGLOG(VHOST_LOG, "%s: SET_VRING_NUM queue %u num %u\n", s->ctrlr->name,
		      st->index, st->num);
	sq = msg_idle_queue(s, st->index);
	if (sq == NULL) {
		return -EINVAL;
	}
	if (st->num == 0 || st->num > VHOST_MAX_QUEUE_SIZE) {
		return vhost_msg_error(s, "ring size %u is not in 1..%u", st->num,
				       VHOST_MAX_QUEUE_SIZE);
	}
	/* Packed rings may have any size; split rings need a power of two. */
	if (s->features_set && !session_packed(s) && (st->num & (st->num - 1)) != 0) {
		return vhost_msg_error(s, "ring size %u is not a power of two", st->num);
	}
	sq->q.cfg.size = (uint16_t)st->num;
	sq->q.have_num = true;
	return 0;
}

int
vhost_user_set_vring_addr(struct vhost_session *s)
{
	const struct vhost_user_vring_addr *a = &s->payload.addr;
	struct vhost_session_queue *sq;

	SPUR_DEBUGLOG(VHOST_LOG, "%s: SET_VRING_ADDR queue %u flags 0x%x desc 0x%" PRIx64
		      " avail 0x%" PRIx64 " used 0x%" PRIx64 "\n", s->ctrlr->name, a->index,
		      a->flags, a->desc, a->avail, a->used);
	sq = msg_idle_queue(s, a->index);
	if (sq == NULL) {
		return -EINVAL;
	}
	if (a->flags & VHOST_USER_VRING_F_LOG) {
		return vhost_msg_error(s, "queue %u: dirty logging is not supported", a->index);
	}
	if (a->flags != 0) {
		return vhost_msg_error(s, "queue %u: unknown flags 0x%x", a->index, a->flags);
	}
	sq->q.cfg.desc_uva = a->desc;
	sq->q.cfg.avail_uva = a->avail;
	sq->q.cfg.used_uva = a->used;
	sq->q.have_addr = true;
	return 0;
}

int
vhost_user_set_vring_base(struct vhost_session *s)
{
	const struct vhost_user_vring_state *st = &s->payload.state;
	struct vhost_session_queue *sq;

	SPUR_DEBUGLOG(VHOST_LOG, "%s: SET_VRING_BASE queue %u num 0x%x\n", s->ctrlr->name,
		      st->index, st->num);
	sq = msg_idle_queue(s, st->index);
	if (sq == NULL) {
		return -EINVAL;
	}
	/* Split: bits 16-31 reserved. Packed: avail idx|wrap, then used idx|wrap. */
	if (s->features_set && !session_packed(s) && (st->num >> 16) != 0) {
		return vhost_msg_error(s, "queue %u: base 0x%x sets reserved bits", st->index,
				       st->num);
	}
	sq->q.cfg.base = (uint16_t)(st->num & 0xffff);
	sq->q.cfg.used_base = (uint16_t)(st->num >> 16);
	sq->q.have_base = true;
	return 0;
}

static uint32_t
queue_base(const struct vhost_session *s, const struct vhost_session_queue *sq)
{
	if (sq->q.cfg.packed || session_packed(s)) {
		return (uint32_t)sq->q.cfg.base | ((uint32_t)sq->q.cfg.used_base << 16);
	}
	return sq->q.cfg.base;
}

/* Answer GET_VRING_BASE for a stopped queue, and forget its kick. */
static int
get_base_reply(struct vhost_session *s, struct vhost_session_queue *sq)
{
	struct vhost_user_vring_state st = { .index = sq->q.index, .num = queue_base(s, sq) };

	SPUR_DEBUGLOG(VHOST_LOG, "%s: GET_VRING_BASE queue %u -> 0x%x\n", s->ctrlr->name,
		      st.index, st.num);
	if (sq->q.kick_fd >= 0) {
		close(sq->q.kick_fd);
		sq->q.kick_fd = -1;
	}
	sq->kick_set = false;
	sq->broken = false;
	return vhost_user_reply(s, &st, sizeof(st), -1);
}

static void
get_base_stopped(struct vhost_session *s)
{
	get_base_reply(s, &s->queues[s->finish_arg]);
}

int
vhost_user_get_vring_base(struct vhost_session *s)
{
	const struct vhost_user_vring_state *st = &s->payload.state;
	struct vhost_session_queue *sq;

	SPUR_DEBUGLOG(VHOST_LOG, "%s: GET_VRING_BASE queue %u\n", s->ctrlr->name, st->index);
	sq = msg_queue(s, st->index);
	if (sq == NULL) {
		return -EINVAL;
	}
	if (sq->q.state == VHOST_QUEUE_IDLE) {
		return get_base_reply(s, sq);
	}
	/* Stop first; the reply waits until the backend drained the queue. */
	vhost_pg_queue_stop(s, sq, VHOST_STOP_GET_BASE);
	s->finish = get_base_stopped;
	s->finish_arg = st->index;
	return 0;
}

/* A new kick for a running queue: it was stopped; install the kick, restart. */
static void
kick_after_stop(struct vhost_session *s)
{
	struct vhost_session_queue *sq = &s->queues[s->finish_arg];

	if (sq->q.kick_fd >= 0) {
		close(sq->q.kick_fd);
	}
	sq->q.kick_fd = sq->next_kick_fd;
	sq->kick_set = sq->next_kick_set;
	sq->next_kick_fd = -1;
	sq->next_kick_set = false;
	vhost_session_start_ready(s);
}

int
vhost_user_set_vring_fd(struct vhost_session *s)
{
	uint64_t v = s->payload.u64;
	uint32_t index = (uint32_t)(v & VHOST_USER_VRING_IDX_MASK);
	bool nofd = (v & VHOST_USER_VRING_NOFD_MASK) != 0;
	struct vhost_session_queue *sq;
	int fd = -1, rc;

	SPUR_DEBUGLOG(VHOST_LOG, "%s: %s queue %u %s\n", s->ctrlr->name,
		      vhost_user_request_name(s->hdr.request), index, nofd ? "no fd" : "fd");
	if (v & ~(uint64_t)(VHOST_USER_VRING_IDX_MASK | VHOST_USER_VRING_NOFD_MASK)) {
		return vhost_msg_error(s, "reserved bits set in 0x%" PRIx64, v);
	}
	if (nofd != (s->rx_nfds == 0)) {
		return vhost_msg_error(s, "queue %u: %s flag with %u file descriptors", index,
				       nofd ? "no-fd" : "fd", s->rx_nfds);
	}
	sq = msg_queue(s, index);
	if (sq == NULL) {
		return -EINVAL;
	}
	if (!nofd) {
		fd = s->rx_fds[0];
		s->rx_fds[0] = -1;
		/* The reactor reads and writes these fds: never block on them. */
		rc = set_nonblock(fd);
		if (rc != 0) {
			close(fd);
			return vhost_msg_error(s, "queue %u: fcntl: %s", index, strerror(-rc));
		}
	}

	switch (s->hdr.request) {
	case VHOST_USER_SET_VRING_KICK:
		if (sq->q.state == VHOST_QUEUE_STARTED) {
			sq->next_kick_fd = fd;
			sq->next_kick_set = true;
			vhost_pg_queue_stop(s, sq, VHOST_STOP_DISABLE);
			s->finish = kick_after_stop;
			s->finish_arg = index;
			return 0;
		}
		if (sq->q.kick_fd >= 0) {
			close(sq->q.kick_fd);
		}
		sq->q.kick_fd = fd;
		sq->kick_set = true;
		return vhost_session_start_ready(s);
	case VHOST_USER_SET_VRING_CALL:
		if (sq->q.state == VHOST_QUEUE_STARTED) {
			/* Interrupt (un)masking: swapped under the running queue. */
			vhost_pg_queue_set_call(s, sq, fd);
			return 0;
		}
		if (sq->q.call_fd >= 0) {
			close(sq->q.call_fd);
		}
		sq->q.call_fd = fd;
		return 0;
	default:
		if (sq->q.err_fd >= 0) {
			close(sq->q.err_fd);
		}
		sq->q.err_fd = fd;
		return 0;
	}
}

int
vhost_user_set_vring_enable(struct vhost_session *s)
{
	const struct vhost_user_vring_state *st = &s->payload.state;
	struct vhost_session_queue *sq;

	SPUR_DEBUGLOG(VHOST_LOG, "%s: SET_VRING_ENABLE queue %u %u\n", s->ctrlr->name,
		      st->index, st->num);
	sq = msg_queue(s, st->index);
	if (sq == NULL) {
		return -EINVAL;
	}
	if (st->num > 1) {
		return vhost_msg_error(s, "queue %u: enable value %u is not 0 or 1", st->index,
				       st->num);
	}
	sq->q.enabled = st->num == 1;
	if (sq->q.enabled) {
		return vhost_session_start_ready(s);
	}
	if (sq->q.state == VHOST_QUEUE_STARTED && !vhost_queue_is_enabled(s, sq)) {
		vhost_pg_queue_stop(s, sq, VHOST_STOP_DISABLE);
	}
	return 0;
}
