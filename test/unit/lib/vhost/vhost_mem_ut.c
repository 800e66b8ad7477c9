/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of lib/vhost/vhost_mem.c: tables built from memfds, refusal of
 * overlapping / empty / overflowing / oversized / short / non-file regions
 * (every fd closed either way), translation at region edges, buffers
 * crossing regions, gaps and addresses outside (-EFAULT), iovec limits,
 * unaligned file offsets, reuse of identical regions across tables,
 * ADD_MEM_REG / REM_MEM_REG style updates, a 509-region table, the
 * reference counting that unmaps (in the background, in pieces) after the
 * last put, and a file shrunk behind a mapping (zero pages instead of
 * SIGBUS).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "vhost_mem.h"

#define MB (1024u * 1024u)

static long g_page;

static int
make_memfd(size_t size)
{
	int fd = memfd_create("vhost_mem_ut", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	return fd;
}

static bool
fd_is_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1;
}

static bool
is_mapped(const void *addr)
{
	unsigned char vec;
	uintptr_t page = (uintptr_t)addr & ~((uintptr_t)g_page - 1);

	return mincore((void *)page, (size_t)g_page, &vec) == 0;
}

static struct vhost_mem_desc
desc(uint64_t gpa, uint64_t size, uint64_t uva, uint64_t off, int fd)
{
	struct vhost_mem_desc d = { .gpa = gpa, .size = size, .uva = uva, .mmap_offset = off,
				    .fd = fd };

	return d;
}

static void
test_build_and_translate(void **state)
{
	int a = make_memfd(MB), b = make_memfd(2 * MB);
	struct vhost_mem_desc d[2] = {
		/* Given out of order: the table sorts by gpa. */
		desc(0x100000000ull, 2 * MB, 0x7f0000200000ull, 0, dup(b)),
		desc(0, MB, 0x7f0000000000ull, 0, dup(a)),
	};
	const char *err = NULL;
	struct vhost_mem *mem = vhost_mem_build(d, 2, NULL, &err);
	uint8_t *p, *q, buf[4];

	assert_non_null(mem);
	assert_null(err);
	assert_int_equal(mem->nregions, 2);
	assert_int_equal(mem->regions[0].gpa, 0);
	assert_int_equal(mem->regions[1].gpa, 0x100000000ull);
	assert_false(fd_is_open(d[0].fd));
	assert_false(fd_is_open(d[1].fd));

	/* Edges: first byte, last byte, one past, a length running over. */
	p = vhost_mem_gpa_to_host(mem, 0, 1);
	assert_non_null(p);
	assert_ptr_equal(vhost_mem_gpa_to_host(mem, MB - 1, 1), p + MB - 1);
	assert_ptr_equal(vhost_mem_gpa_to_host(mem, 0, MB), p);
	assert_null(vhost_mem_gpa_to_host(mem, MB, 1));
	assert_null(vhost_mem_gpa_to_host(mem, MB - 1, 2));
	assert_null(vhost_mem_gpa_to_host(mem, 0, MB + 1));
	assert_null(vhost_mem_gpa_to_host(mem, 0x100000000ull - 1, 1));
	q = vhost_mem_gpa_to_host(mem, 0x100000000ull + 2 * MB - 4, 4);
	assert_non_null(q);
	assert_null(vhost_mem_gpa_to_host(mem, 0x100000000ull + 2 * MB, 1));
	assert_null(vhost_mem_gpa_to_host(mem, UINT64_MAX, 1));
	assert_null(vhost_mem_gpa_to_host(mem, 0x100000000ull, UINT64_MAX));

	/* Writes land in the right file at the right offset. */
	memcpy(q, "spur", 4);
	assert_int_equal(pread(b, buf, 4, 2 * MB - 4), 4);
	assert_memory_equal(buf, "spur", 4);
	p[123] = 0x5a;
	assert_int_equal(pread(a, buf, 1, 123), 1);
	assert_int_equal(buf[0], 0x5a);

	/* Frontend virtual addresses (ring addresses). */
	assert_ptr_equal(vhost_mem_uva_to_host(mem, 0x7f0000000000ull + 123, 1), p + 123);
	assert_ptr_equal(vhost_mem_uva_to_host(mem, 0x7f0000200000ull + 2 * MB - 4, 4), q);
	assert_null(vhost_mem_uva_to_host(mem, 0x7f0000200000ull + 2 * MB - 4, 5));
	assert_null(vhost_mem_uva_to_host(mem, 0x7f0000100000ull, 1));
	assert_null(vhost_mem_uva_to_host(NULL, 0, 1));

	vhost_mem_put(mem);
	close(a);
	close(b);
}

static void
expect_refused(struct vhost_mem_desc *d, uint32_t n, const char *needle)
{
	const char *err = NULL;
	uint32_t i;

	assert_null(vhost_mem_build(d, n, NULL, &err));
	assert_non_null(err);
	if (needle != NULL && strstr(err, needle) == NULL) {
		fail_msg("error '%s' does not mention '%s'", err, needle);
	}
	for (i = 0; i < n; i++) {
		if (d[i].fd >= 0) {
			assert_false(fd_is_open(d[i].fd));
		}
	}
}

static void
test_refusals(void **state)
{
	int m = make_memfd(4 * MB), p[2];
	struct vhost_mem_desc d[2], *many;
	uint32_t i;

	/* Overlap in guest-physical addresses. */
	d[0] = desc(0, 2 * MB, 0x10000000, 0, dup(m));
	d[1] = desc(MB, 2 * MB, 0x20000000, 0, dup(m));
	expect_refused(d, 2, "overlap in guest memory");
	/* Overlap in frontend addresses. */
	d[0] = desc(0, MB, 0x10000000, 0, dup(m));
	d[1] = desc(MB, MB, 0x10000000 + MB - 1, 0, dup(m));
	expect_refused(d, 2, "frontend addresses");
	/* Zero size, 64-bit overflow of gpa, uva and offset. */
	d[0] = desc(0, 0, 0, 0, dup(m));
	expect_refused(d, 1, "size 0");
	d[0] = desc(UINT64_MAX - 10, MB, 0, 0, dup(m));
	expect_refused(d, 1, "overflows");
	d[0] = desc(0, MB, UINT64_MAX - 10, 0, dup(m));
	expect_refused(d, 1, "overflows");
	d[0] = desc(0, MB, 0, UINT64_MAX - 10, dup(m));
	expect_refused(d, 1, "overflows");
	/* Past the end of the file (would SIGBUS on access). */
	d[0] = desc(0, 4 * MB, 0, (uint64_t)g_page, dup(m));
	expect_refused(d, 1, "past the end");
	/* Not a regular file. */
	assert_int_equal(pipe(p), 0);
	d[0] = desc(0, MB, 0, 0, p[0]);
	expect_refused(d, 1, "regular file");
	close(p[1]);
	/* No fd. */
	d[0] = desc(0, MB, 0, 0, -1);
	expect_refused(d, 1, "file descriptor");
	/* Too many regions: every fd closed anyway. */
	many = calloc(VHOST_MEM_MAX_REGIONS + 1, sizeof(*many));
	assert_non_null(many);
	for (i = 0; i <= VHOST_MEM_MAX_REGIONS; i++) {
		many[i] = desc((uint64_t)i * 4096, 4096, (uint64_t)i * 4096, 0, dup(m));
	}
	expect_refused(many, VHOST_MEM_MAX_REGIONS + 1, "at most");
	free(many);
	close(m);
}

static void
test_crossing_and_iovs(void **state)
{
	int a = make_memfd(MB), b = make_memfd(MB), c = make_memfd(MB);
	/* [0, 1M) a, [1M, 2M) b, gap, [3M, 4M) c */
	struct vhost_mem_desc d[3] = {
		desc(0, MB, 0x10000000, 0, dup(a)),
		desc(MB, MB, 0x30000000, 0, dup(b)),
		desc(3 * MB, MB, 0x50000000, 0, dup(c)),
	};
	const char *err;
	struct vhost_mem *mem = vhost_mem_build(d, 3, NULL, &err);
	struct iovec iov[4];
	uint32_t n = 0;
	uint8_t buf[8];

	assert_non_null(mem);
	/* 8 bytes across the a/b boundary: two iovecs, 4 + 4. */
	assert_int_equal(vhost_mem_gpa_to_iovs(mem, MB - 4, 8, iov, &n, 4), 0);
	assert_int_equal(n, 2);
	assert_int_equal(iov[0].iov_len, 4);
	assert_int_equal(iov[1].iov_len, 4);
	memcpy(iov[0].iov_base, "abcd", 4);
	memcpy(iov[1].iov_base, "efgh", 4);
	assert_int_equal(pread(a, buf, 4, MB - 4), 4);
	assert_memory_equal(buf, "abcd", 4);
	assert_int_equal(pread(b, buf, 4, 0), 4);
	assert_memory_equal(buf, "efgh", 4);
	/* Appends after what is there. */
	assert_int_equal(vhost_mem_gpa_to_iovs(mem, 3 * MB, 16, iov, &n, 4), 0);
	assert_int_equal(n, 3);
	assert_ptr_equal(iov[2].iov_base, vhost_mem_gpa_to_host(mem, 3 * MB, 16));
	/* Too small an array: -E2BIG, nothing appended. */
	n = 0;
	assert_int_equal(vhost_mem_gpa_to_iovs(mem, MB - 4, 8, iov, &n, 1), -E2BIG);
	assert_int_equal(n, 0);
	/* Through the gap, outside, empty, overflowing: -EFAULT, nothing appended. */
	n = 1;
	assert_int_equal(vhost_mem_gpa_to_iovs(mem, 2 * MB - 4, 8, iov, &n, 4), -EFAULT);
	assert_int_equal(n, 1);
	assert_int_equal(vhost_mem_gpa_to_iovs(mem, 4 * MB, 1, iov, &n, 4), -EFAULT);
	assert_int_equal(vhost_mem_gpa_to_iovs(mem, 4 * MB - 1, 2, iov, &n, 4), -EFAULT);
	assert_int_equal(vhost_mem_gpa_to_iovs(mem, 0, 0, iov, &n, 4), -EFAULT);
	assert_int_equal(vhost_mem_gpa_to_iovs(mem, UINT64_MAX - 2, 8, iov, &n, 4), -EFAULT);
	assert_int_equal(n, 1);
	/* Exactly a whole region, and exactly up to its last byte. */
	n = 0;
	assert_int_equal(vhost_mem_gpa_to_iovs(mem, MB, MB, iov, &n, 1), 0);
	assert_int_equal(n, 1);
	assert_int_equal(iov[0].iov_len, MB);
	vhost_mem_put(mem);
	close(a);
	close(b);
	close(c);
}

static void
test_unaligned_offset(void **state)
{
	int m = make_memfd(3 * (size_t)g_page);
	struct vhost_mem_desc d = desc(0x1000, (uint64_t)g_page, 0x5000, 100, dup(m));
	const char *err;
	struct vhost_mem *mem = vhost_mem_build(&d, 1, NULL, &err);
	uint8_t *p;

	assert_non_null(mem);
	assert_int_equal(pwrite(m, "xyz", 3, 100), 3);
	p = vhost_mem_gpa_to_host(mem, 0x1000, 3);
	assert_non_null(p);
	assert_memory_equal(p, "xyz", 3);
	assert_true(mem->regions[0].map_len >= (size_t)g_page + 100);
	vhost_mem_put(mem);
	close(m);
}

static void
test_reuse_and_unmap(void **state)
{
	int a = make_memfd(MB), b = make_memfd(MB);
	struct vhost_mem_desc d1[1] = { desc(0, MB, 0x10000000, 0, dup(a)) };
	struct vhost_mem_desc d2[2] = {
		desc(0, MB, 0x10000000, 0, dup(a)),     /* identical: shared */
		desc(MB, MB, 0x20000000, 0, dup(b)),
	};
	struct vhost_mem_desc d3[1] = { desc(0, MB, 0x30000000, 0, dup(a)) }; /* uva moved */
	const char *err;
	struct vhost_mem *t1, *t2, *t3;
	uint64_t base;
	uint8_t *pa, *pb;

	base = vhost_mem_unmap_drain();
	t1 = vhost_mem_build(d1, 1, NULL, &err);
	assert_non_null(t1);
	t2 = vhost_mem_build(d2, 2, t1, &err);
	assert_non_null(t2);
	pa = vhost_mem_gpa_to_host(t1, 0, 1);
	assert_ptr_equal(vhost_mem_gpa_to_host(t2, 0, 1), pa);
	assert_ptr_equal(t1->regions[0].mapping, t2->regions[0].mapping);
	t3 = vhost_mem_build(d3, 1, t2, &err);
	assert_non_null(t3);
	assert_ptr_not_equal(t3->regions[0].mapping, t2->regions[0].mapping);

	/* Dropping t1 unmaps nothing: t2 still uses its only region. */
	vhost_mem_put(t1);
	assert_int_equal(vhost_mem_unmap_drain(), base);
	assert_true(is_mapped(pa));
	pa[0] = 1;

	/* A reference taken by a queue keeps t2 alive past the owner's put. */
	vhost_mem_get(t2);
	vhost_mem_put(t2);
	pb = vhost_mem_gpa_to_host(t2, MB, 1);
	assert_non_null(pb);
	pb[0] = 2;
	assert_int_equal(vhost_mem_unmap_drain(), base);
	vhost_mem_put(t2);
	/* Both of t2's mappings go, in the background; t3's own stays. */
	assert_int_equal(vhost_mem_unmap_drain(), base + 2);
	assert_false(is_mapped(pa));
	assert_false(is_mapped(pb));
	assert_true(is_mapped(vhost_mem_gpa_to_host(t3, 0, 1)));
	vhost_mem_put(t3);
	assert_int_equal(vhost_mem_unmap_drain(), base + 3);
	close(a);
	close(b);
}

/*
 * A large region is unmapped in pieces (so a reactor waiting for the mm
 * lock waits for one piece): every page goes, including the ones on both
 * sides of each piece's edge and a tail shorter than a piece.
 */
static void
test_unmap_in_pieces(void **state)
{
	size_t len = 40 * MB + 3 * (size_t)g_page;
	size_t offs[] = { 0, 16 * MB - (size_t)g_page, 16 * MB, 32 * MB + (size_t)g_page,
			  len - (size_t)g_page };
	int fd = make_memfd(len);
	struct vhost_mem_desc d[1] = { desc(0, len, 0x40000000, 0, dup(fd)) };
	const char *err;
	struct vhost_mem *t;
	uint64_t base = vhost_mem_unmap_drain();
	uint8_t *p;
	size_t i;

	t = vhost_mem_build(d, 1, NULL, &err);
	assert_non_null(t);
	p = vhost_mem_gpa_to_host(t, 0, len);
	assert_non_null(p);
	for (i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		p[offs[i]] = (uint8_t)i;
		assert_true(is_mapped(p + offs[i]));
	}
	vhost_mem_put(t);
	assert_int_equal(vhost_mem_unmap_drain(), base + 1);
	for (i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		assert_false(is_mapped(p + offs[i]));
	}
	close(fd);
}

static void
test_add_remove(void **state)
{
	int a = make_memfd(4 * MB);
	struct vhost_mem_desc d;
	const char *err;
	struct vhost_mem *t1, *t2, *t3, *t4;
	uint64_t base = vhost_mem_unmap_drain();
	int p[2];

	d = desc(2 * MB, MB, 0x20000000, 2 * MB, dup(a));
	t1 = vhost_mem_add_region(NULL, &d, &err);
	assert_non_null(t1);
	assert_false(fd_is_open(d.fd));
	d = desc(0, MB, 0x10000000, 0, dup(a));
	t2 = vhost_mem_add_region(t1, &d, &err);
	assert_non_null(t2);
	assert_int_equal(t2->nregions, 2);
	assert_int_equal(t2->regions[0].gpa, 0);         /* sorted */
	assert_ptr_equal(t2->regions[1].mapping, t1->regions[0].mapping);
	/* Overlapping either address space: refused, fd closed, t2 intact. */
	d = desc(2 * MB + 4096, 4096, 0x40000000, 0, dup(a));
	assert_null(vhost_mem_add_region(t2, &d, &err));
	assert_false(fd_is_open(d.fd));
	d = desc(3 * MB, 4096, 0x10000000 + 4096, 0, dup(a));
	assert_null(vhost_mem_add_region(t2, &d, &err));
	assert_non_null(strstr(err, "frontend addresses"));
	assert_int_equal(pipe(p), 0);
	d = desc(3 * MB, 4096, 0x70000000, 0, p[0]);
	assert_null(vhost_mem_add_region(t2, &d, &err));
	close(p[1]);
	assert_int_equal(vhost_mem_unmap_drain(), base);

	/* Removal is by gpa, uva and size; the offset is ignored; an fd is closed. */
	d = desc(2 * MB, MB, 0x20000000, 12345, dup(a));
	t3 = vhost_mem_remove_region(t2, &d, &err);
	assert_non_null(t3);
	assert_false(fd_is_open(d.fd));
	assert_int_equal(t3->nregions, 1);
	assert_ptr_equal(t3->regions[0].mapping, t2->regions[0].mapping);
	assert_null(vhost_mem_gpa_to_host(t3, 2 * MB, 1));
	d = desc(2 * MB, MB, 0x20000001, 0, -1);
	assert_null(vhost_mem_remove_region(t3, &d, &err));
	assert_non_null(strstr(err, "no region"));
	d = desc(0, MB, 0x10000000, 0, -1);
	t4 = vhost_mem_remove_region(t3, &d, &err);
	assert_non_null(t4);
	assert_int_equal(t4->nregions, 0);
	assert_null(vhost_mem_gpa_to_host(t4, 0, 1));

	vhost_mem_put(t1);
	vhost_mem_put(t2);
	assert_int_equal(vhost_mem_unmap_drain(), base + 1); /* region at 2M */
	vhost_mem_put(t3);
	vhost_mem_put(t4);
	assert_int_equal(vhost_mem_unmap_drain(), base + 2);
	close(a);
}

static void
test_max_regions(void **state)
{
	uint32_t n = VHOST_MEM_MAX_REGIONS, i, k;
	int m = make_memfd((size_t)n * (size_t)g_page);
	struct vhost_mem_desc *d = calloc(n, sizeof(*d));
	const char *err;
	struct vhost_mem *mem;
	uint8_t *p;

	assert_non_null(d);
	/* Every other guest page, in reverse order, each backed by its own file page. */
	for (i = 0; i < n; i++) {
		k = n - 1 - i;
		d[i] = desc((uint64_t)k * 2 * (uint64_t)g_page, (uint64_t)g_page,
			    0x100000000ull + (uint64_t)k * (uint64_t)g_page,
			    (uint64_t)k * (uint64_t)g_page, dup(m));
	}
	mem = vhost_mem_build(d, n, NULL, &err);
	assert_non_null(mem);
	for (i = 0; i < n; i++) {
		p = vhost_mem_gpa_to_host(mem, (uint64_t)i * 2 * (uint64_t)g_page + 7, 1);
		assert_non_null(p);
		*p = (uint8_t)i;
		assert_null(vhost_mem_gpa_to_host(mem, ((uint64_t)i * 2 + 1) * (uint64_t)g_page, 1));
	}
	for (i = 0; i < n; i += 37) {
		uint8_t v;

		assert_int_equal(pread(m, &v, 1, (off_t)i * g_page + 7), 1);
		assert_int_equal(v, (uint8_t)i);
	}
	vhost_mem_put(mem);
	free(d);
	close(m);
}

/*
 * A frontend that shrinks the file behind a region after sharing it: the
 * pages past the new end read as zeroes and take writes, never raising
 * SIGBUS into the process; a file sealed against shrinking is left alone.
 */
static void
test_truncated_file(void **state)
{
	int m = make_memfd(2 * MB);
	int s = memfd_create("vhost_mem_ut_sealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	struct vhost_mem_desc d[2];
	const char *err = NULL;
	struct vhost_mem *mem;
	volatile uint8_t *p, *q;

	assert_true(s >= 0);
	assert_int_equal(ftruncate(s, MB), 0);
	assert_int_equal(fcntl(s, F_ADD_SEALS, F_SEAL_SHRINK), 0);
	d[0] = desc(0, 2 * MB, 0x10000000, 0, dup(m));
	d[1] = desc(4 * MB, MB, 0x20000000, 0, dup(s));
	mem = vhost_mem_build(d, 2, NULL, &err);
	assert_non_null(mem);
	p = vhost_mem_gpa_to_host(mem, 0, 2 * MB);
	q = vhost_mem_gpa_to_host(mem, 4 * MB, MB);
	assert_non_null(p);
	assert_non_null(q);
	p[MB + 5] = 0x5a;
	q[7] = 0xa5;
	assert_true(mem->may_vanish);
	assert_false(vhost_mem_vanished(mem));
	assert_int_equal(ftruncate(m, 0), 0);
	assert_int_not_equal(ftruncate(s, 0), 0);
	assert_int_equal(p[MB + 5], 0);
	assert_true(vhost_mem_vanished(mem));
	p[2 * MB - 1] = 1;
	assert_int_equal(p[2 * MB - 1], 1);
	assert_int_equal(p[0], 0);
	assert_int_equal(q[7], 0xa5);
	vhost_mem_put(mem);
	vhost_mem_unmap_drain();
	close(m);
	close(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build_and_translate),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_crossing_and_iovs),
		cmocka_unit_test(test_unaligned_offset),
		cmocka_unit_test(test_reuse_and_unmap),
		cmocka_unit_test(test_unmap_in_pieces),
		cmocka_unit_test(test_add_remove),
		cmocka_unit_test(test_max_regions),
		cmocka_unit_test(test_truncated_file),
	};

	g_page = sysconf(_SC_PAGESIZE);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
