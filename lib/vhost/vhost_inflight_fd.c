/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The inflight region (VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD): shared memory
 * in which each queue marks the requests it took and has not completed, so
 * a backend that restarts (after a crash, or a new spur process) can replay
 * them when QEMU reconnects.
 *
 * GET_INFLIGHT_FD creates the region: a zeroed memfd sized by
 * virtq_inflight_region_size for the frontend's num_queues and queue_size
 * (for the larger of the split and packed layouts when packed rings are
 * offered, since the frontend asks before it sets features), sealed so that
 * neither side can resize it (a shrink would make our accesses fault), and
 * hands it to the frontend, which keeps it across reconnections.
 * SET_INFLIGHT_FD maps the region the frontend hands back (ours from this
 * process, or one created by an earlier spur process); it must be a sealed
 * memfd covering offset + size.
 *
 * At queue start the queue's part is attached (virtq_inflight_attach, which
 * initializes a part never used); a part that was in use (version != 0) may
 * hold marks, so the start runs virtq_recover and the backend resubmits
 * what it returns (vhost_pg.c).
 *
 * Threads: application thread. The mapping lives while the session does
 * (queues point into it) and is unmapped by the background helper after
 * every queue stopped, or on RESET_DEVICE / a new SET_INFLIGHT_FD while the
 * queues are stopped.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vhost_user.h"

static uint64_t
region_size(const struct vhost_session *s, uint16_t num_queues, uint16_t queue_size)
{
	uint64_t split = virtq_inflight_region_size(num_queues, queue_size, false);
	uint64_t packed = 0;

	if ((s->ctrlr->ops->features(s->ctrlr) >> VHOST_VIRTIO_F_RING_PACKED) & 1) {
		packed = virtq_inflight_region_size(num_queues, queue_size, true);
	}
	return SPUR_MAX(split, packed);
}

static int
check_geometry(struct vhost_session *s, const struct vhost_user_inflight *in)
{
	if (in->num_queues == 0 || in->num_queues > s->max_queues) {
		return vhost_msg_error(s, "%u queues (the device has %u)", in->num_queues,
				       s->max_queues);
	}
	if (in->queue_size == 0 || in->queue_size > VHOST_MAX_QUEUE_SIZE) {
		return vhost_msg_error(s, "queue size %u is not in 1..%u", in->queue_size,
				       VHOST_MAX_QUEUE_SIZE);
	}
	return 0;
}

int
vhost_user_get_inflight_fd(struct vhost_session *s)
{
	const struct vhost_user_inflight *in = &s->payload.inflight;
	struct vhost_user_inflight out;
	uint64_t size;
	int fd, rc;

	SPUR_DEBUGLOG(VHOST_LOG, "%s: GET_INFLIGHT_FD %u queues of %u\n", s->ctrlr->name,
		      in->num_queues, in->queue_size);
	rc = check_geometry(s, in);
	if (rc != 0) {
		return rc;
	}
	size = region_size(s, in->num_queues, in->queue_size);
	fd = memfd_create("spur-inflight", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0) {
		return vhost_msg_error(s, "memfd_create: %s", strerror(errno));
	}
	if (ftruncate(fd, (off_t)size) != 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) != 0) {
		rc = errno;
		close(fd);
		return vhost_msg_error(s, "cannot size and seal the region: %s", strerror(rc));
	}
	memset(&out, 0, sizeof(out));
	out.mmap_size = size;
	out.mmap_offset = 0;
	out.num_queues = in->num_queues;
	out.queue_size = in->queue_size;
	SPUR_DEBUGLOG(VHOST_LOG, "%s: GET_INFLIGHT_FD -> %" PRIu64 " bytes\n", s->ctrlr->name,
		      size);
	rc = vhost_user_reply(s, &out, sizeof(out), fd);
	/* The frontend has its own reference now; ours comes back with SET_INFLIGHT_FD. */
	close(fd);
	return rc;
}

int
vhost_user_set_inflight_fd(struct vhost_session *s)
{
	const struct vhost_user_inflight *in = &s->payload.inflight;
	long page = sysconf(_SC_PAGESIZE);
	struct stat st;
	uint64_t max;
	int fd = s->rx_fds[0], seals, rc;
	uint16_t i;
	void *addr;

	s->rx_fds[0] = -1;
	SPUR_DEBUGLOG(VHOST_LOG, "%s: SET_INFLIGHT_FD %u queues of %u, %" PRIu64 " bytes at %"
		      PRIu64 "\n", s->ctrlr->name, in->num_queues, in->queue_size, in->mmap_size,
		      in->mmap_offset);
	rc = check_geometry(s, in);
	for (i = 0; rc == 0 && i < s->max_queues; i++) {
		if (s->queues[i].q.state != VHOST_QUEUE_IDLE) {
			rc = vhost_msg_error(s, "queue %u is running", i);
		}
	}
	if (rc != 0) {
		close(fd);
		return rc;
	}
	max = SPUR_MAX(virtq_inflight_region_size(in->num_queues, in->queue_size, false),
		       virtq_inflight_region_size(in->num_queues, in->queue_size, true));
	if (in->mmap_size == 0 || in->mmap_size > max ||
	    in->mmap_size < virtq_inflight_region_size(in->num_queues, in->queue_size, false)) {
		close(fd);
		return vhost_msg_error(s, "size %" PRIu64 " does not fit %u queues of %u",
				       in->mmap_size, in->num_queues, in->queue_size);
	}
	if (page <= 0 || in->mmap_offset % (uint64_t)page != 0 ||
	    in->mmap_offset > UINT64_MAX - in->mmap_size) {
		close(fd);
		return vhost_msg_error(s, "offset 0x%" PRIx64 " is not page aligned",
				       in->mmap_offset);
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size < in->mmap_offset + in->mmap_size) {
		close(fd);
		return vhost_msg_error(s, "the fd is not a file covering offset + size");
	}
	/* Only a region that cannot shrink under us is safe to map. */
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || !(seals & F_SEAL_SHRINK)) {
		close(fd);
		return vhost_msg_error(s, "the region is not a memfd sealed against shrinking");
	}
	addr = mmap(NULL, (size_t)in->mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		    (off_t)in->mmap_offset);
	rc = errno;
	close(fd);
	if (addr == MAP_FAILED) {
		return vhost_msg_error(s, "mmap: %s", strerror(rc));
	}
	vhost_inflight_release(s);
	s->inflight_addr = addr;
	s->inflight_size = in->mmap_size;
	s->inflight_num_queues = in->num_queues;
	s->inflight_queue_size = in->queue_size;
	return 0;
}

int
vhost_inflight_attach_queue(struct vhost_session *s, struct vhost_session_queue *sq,
			    bool *recover, const char **err)
{
	struct vhost_queue *q = &sq->q;
	uint64_t stride, off;
	uint16_t version;
	int rc;

	*recover = false;
	if (s->inflight_addr == NULL) {
		return 0;
	}
	if (q->index >= s->inflight_num_queues) {
		*err = "the queue is beyond the inflight region";
		return -EINVAL;
	}
	stride = virtq_inflight_region_size(1, s->inflight_queue_size, q->cfg.packed);
	off = (uint64_t)q->index * stride;
	if (off + stride > s->inflight_size) {
		*err = "the inflight region is too small for this ring layout";
		return -EINVAL;
	}
	/* The part's version (after a u64 of features): 0 means never used. */
	memcpy(&version, (const uint8_t *)s->inflight_addr + off + sizeof(uint64_t),
	       sizeof(version));
	rc = virtq_inflight_attach(&q->vq, s->inflight_addr, s->inflight_size, q->index,
				   s->inflight_queue_size, q->cfg.packed, false);
	if (rc != 0) {
		*err = "the inflight region does not match the ring (version or size)";
		return rc;
	}
	*recover = version != 0;
	return 0;
}

void
vhost_inflight_release(struct vhost_session *s)
{
	if (s->inflight_addr != NULL) {
		vhost_mem_unmap_async(s->inflight_addr, (size_t)s->inflight_size);
	}
	s->inflight_addr = NULL;
	s->inflight_size = 0;
	s->inflight_num_queues = 0;
	s->inflight_queue_size = 0;
}
