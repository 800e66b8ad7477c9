/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Scatter-gather helpers for every layer that moves bytes between a flat
 * buffer and an iovec array: the vhost devices (request headers and
 * responses in guest buffers), the SCSI layer (command data), the bdev
 * layer (bounce buffers), and the network targets (PDU payloads).
 *
 * Static inline: they run per request on the data path, where the
 * compiler sees the usual single-iovec case and a constant skip of 0.
 * None of them allocates or fails; a count past the iovecs' bytes just
 * copies less (the return value says how much).
 */
#ifndef SPUR_IOV_H
#define SPUR_IOV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>

/* Total bytes of iov[0..cnt). */
static inline uint64_t
spur_iov_len(const struct iovec *iov, unsigned int cnt)
{
	uint64_t sum = 0;

	for (unsigned int i = 0; i < cnt; i++)
		sum += iov[i].iov_len;
	return sum;
}

/*
 * Copy up to len bytes between buf and iov, starting skip bytes into iov;
 * to_iov picks the direction (a constant in the wrappers below, so each
 * compiles to a one-way loop). Returns bytes copied.
 */
static inline size_t
spur_iov_copy(const struct iovec *iov, unsigned int cnt, uint64_t skip, void *buf, size_t len,
	      bool to_iov)
{
	size_t done = 0;

	for (unsigned int i = 0; i < cnt && done < len; i++) {
		size_t l = iov[i].iov_len, n;
		uint8_t *p;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		n = l - (size_t)skip < len - done ? l - (size_t)skip : len - done;
		p = (uint8_t *)iov[i].iov_base + skip;
		if (to_iov)
			memcpy(p, (const uint8_t *)buf + done, n);
		else
			memcpy((uint8_t *)buf + done, p, n);
		done += n;
		skip = 0;
	}
	return done;
}

/* Copy up to len bytes, starting skip bytes into iov, to buf; returns bytes copied. */
static inline size_t
spur_iov_to_buf(const struct iovec *iov, unsigned int cnt, uint64_t skip, void *buf,
		size_t len)
{
	return spur_iov_copy(iov, cnt, skip, buf, len, false);
}

/* Copy up to len bytes of buf into iov, starting skip bytes into it; returns bytes copied. */
static inline size_t
spur_iov_from_buf(const struct iovec *iov, unsigned int cnt, uint64_t skip, const void *buf,
		  size_t len)
{
	return spur_iov_copy(iov, cnt, skip, (void *)(uintptr_t)buf, len, true);
}

/*
 * Drop the first skip bytes of iov[0..cnt) in place; returns the index of
 * the first iovec left (cnt when nothing is left).
 */
static inline unsigned int
spur_iov_skip(struct iovec *iov, unsigned int cnt, uint64_t skip)
{
	unsigned int k;

	for (k = 0; k < cnt && skip >= iov[k].iov_len; k++)
		skip -= iov[k].iov_len;
	if (k < cnt) {
		iov[k].iov_base = (uint8_t *)iov[k].iov_base + skip;
		iov[k].iov_len -= (size_t)skip;
	}
	return k;
}

#endif
