/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Guest memory tables (vhost_mem.h): building them from the frontend's
 * region descriptions, translating guest-physical and frontend-virtual
 * addresses, and unmapping in the background.
 *
 * Owns every struct vhost_mem, every struct vhost_mem_mapping (one mmap of
 * one region's fd) and the unmap helper thread.
 *
 * Invariants:
 * - A table is immutable once vhost_mem_build / _add_region /
 *   _remove_region returned it: regions sorted by gpa, no two overlapping in
 *   gpa or in uva, each [host, host + size) inside its mapping and backed by
 *   the file (its size was checked against offset + size).
 * - A mapping's refs counts the tables whose regions point at it; the table
 *   that drops the last one queues the munmap. Tables that reuse a region
 *   (same file, offset, size, gpa and uva) share its mapping, so a table
 *   change for memory hot-plug never remaps what did not change.
 * - Nothing returned by a translation lies outside a region.
 *
 * Threads: build/add/remove run on the application thread (they call mmap,
 * which without MAP_POPULATE is O(1) per region). Translation runs on any
 * thread holding a reference; the last-hit cache is thread-local, so
 * translation writes no shared memory. get/put may run anywhere.
 *
 * Shrinking files (SIGBUS guard): a frontend may ftruncate the file behind a
 * region after sharing it; touching the pages past its new end then raises
 * SIGBUS, which would kill the process and every other guest's storage
 * with it. A mapping whose fd is not sealed against shrinking (QEMU's
 * memory-backend-memfd seals by default; hugetlbfs and plain files cannot
 * be sealed) is registered in a lock-free list of slots; the SIGBUS handler
 * replaces a registered mapping that faults with anonymous zero pages (the
 * faulting access then completes and reads zeroes: the frontend destroyed
 * its own memory) and leaves any other SIGBUS to the previous disposition.
 * The unmap helper logs each mapping that had to be replaced.
 *
 * The unmap helper: one detached pthread ("vhost_unmap"), started on the
 * first queued munmap, that waits on a condition variable and unmaps queued
 * mappings one by one. munmap of a large guest can take long (page tables of
 * 100+ GiB; freeing the guest's pages when spur held the last reference), so
 * no reactor ever performs it. Two more things keep it from stalling a
 * reactor (measured with tools/vhost_memstall, docs/performance.md):
 * - Placement. A thread inherits its creator's affinity, and its creator is
 *   a reactor pinned to one core: left there it would take that core in
 *   scheduler slices for as long as the unmapping lasts. It is started on
 *   the machine's other cores (vhost_mem_set_reactor_cores says which
 *   cores the reactors have); when every core runs a reactor it stays where
 *   it is at the lowest priority (nice 19), so it gets short, rare slices.
 * - The mm lock. munmap holds the process's mmap lock while it tears down
 *   page tables, and a reactor that maps a new table, or whose malloc grows
 *   its heap (brk, mprotect), waits for the whole teardown. The helper
 *   unmaps in pieces of UNMAP_CHUNK bytes (rounded to the mapping's page
 *   size), so such a wait lasts one piece at most.
 * It blocks every signal and lives until the process exits;
 * vhost_mem_unmap_drain() waits for the queue to empty. If it cannot be
 * started, munmap runs inline (logged once).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "spur/log.h"
#include "spur/util.h"
#include "vhost_mem.h"

#ifndef HUGETLBFS_MAGIC
#define HUGETLBFS_MAGIC 0x958458f6
#endif

struct guard_slot;

/*
 * The helper unmaps this many bytes per munmap call: at most 4096 pages of
 * 4 KiB, a few hundred microseconds of page-table teardown under the mm
 * lock (a 128 GiB region takes 8192 calls, some tens of milliseconds of
 * the helper's time).
 */
#define UNMAP_CHUNK (16ull << 20)

struct vhost_mem_mapping {
	_Atomic uint32_t refs;
	void *addr;
	size_t len;
	size_t page;                      /* mapping granularity (huge page size on hugetlbfs) */
	struct guard_slot *guard;         /* NULL: the file cannot shrink */
	struct vhost_mem_mapping *next;   /* unmap queue */
};

/* ---- SIGBUS guard ------------------------------------------------------------ */

#define GUARD_CHUNK_SLOTS 256

/* A guarded mapping; start 0 = free. Written under g_guard.lock, read by the handler. */
struct guard_slot {
	_Atomic uintptr_t start;
	_Atomic size_t len;
	_Atomic bool replaced;            /* the handler put zero pages there */
};

/* Chunks are linked once and never freed, so the handler can walk them any time. */
struct guard_chunk {
	struct guard_slot slots[GUARD_CHUNK_SLOTS];
	struct guard_chunk *_Atomic next;
};

static struct {
	pthread_mutex_t lock;
	struct sigaction prev;            /* the disposition ours replaced */
	_Atomic uint32_t replaced;        /* mappings the handler replaced, ever */
	struct guard_chunk first;
} g_guard = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
};

static void
guard_sigbus(int sig, siginfo_t *si, void *uctx)
{
	uintptr_t a = (uintptr_t)si->si_addr;
	struct guard_chunk *c;
	uint32_t i;

	/* si_code > 0: raised by the kernel for an access (not sent with kill). */
	for (c = &g_guard.first; c != NULL && si->si_code > 0;
	     c = atomic_load_explicit(&c->next, memory_order_acquire)) {
		for (i = 0; i < GUARD_CHUNK_SLOTS; i++) {
			struct guard_slot *s = &c->slots[i];
			uintptr_t start = atomic_load_explicit(&s->start, memory_order_acquire);
			size_t len = atomic_load_explicit(&s->len, memory_order_relaxed);

			if (start == 0 || a - start >= len) {
				continue;
			}
			/* mmap is a plain system call: safe here in practice (libwayland does it). */
			if (mmap((void *)start, len, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1,
				 0) == MAP_FAILED) {
				goto not_ours;
			}
			atomic_store_explicit(&s->replaced, true, memory_order_relaxed);
			atomic_fetch_add_explicit(&g_guard.replaced, 1, memory_order_relaxed);
			return;   /* the access is repeated, on zero pages */
		}
	}
not_ours:
	if ((g_guard.prev.sa_flags & SA_SIGINFO) && g_guard.prev.sa_sigaction != NULL) {
		g_guard.prev.sa_sigaction(sig, si, uctx);
		return;
	}
	if (g_guard.prev.sa_handler == SIG_IGN && si->si_code <= 0) {
		return;
	}
	if (g_guard.prev.sa_handler != SIG_DFL && g_guard.prev.sa_handler != SIG_IGN) {
		g_guard.prev.sa_handler(sig);
		return;
	}
	signal(SIGBUS, SIG_DFL);
	raise(SIGBUS);
}

/*
 * With g_guard.lock held: make guard_sigbus the SIGBUS handler (again, if
 * something replaced it since) and let SIGBUS reach this thread (the
 * application thread reads rings too; poll groups unblock theirs). False
 * if the handler cannot be installed.
 */
static bool
guard_install_locked(void)
{
	struct sigaction sa, cur;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGBUS);
	pthread_sigmask(SIG_UNBLOCK, &sa.sa_mask, NULL);
	if (sigaction(SIGBUS, NULL, &cur) != 0) {
		return false;
	}
	if ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == guard_sigbus) {
		return true;
	}
	sigemptyset(&sa.sa_mask);
	sa.sa_sigaction = guard_sigbus;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	return sigaction(SIGBUS, &sa, &g_guard.prev) == 0;
}

/*
 * Guard m (just mapped from fd) unless fd is sealed against shrinking.
 * Returns NULL (m->guard set, or nothing to guard) or a message.
 */
static const char *mem_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static const char *
guard_register(struct vhost_mem_mapping *m, int fd)
{
	int seals = fcntl(fd, F_GET_SEALS);
	struct guard_chunk *c, *last = NULL;
	struct guard_slot *s = NULL;
	uint32_t i;

	m->guard = NULL;
	if (seals >= 0 && (seals & F_SEAL_SHRINK)) {
		return NULL;
	}
	pthread_mutex_lock(&g_guard.lock);
	if (!guard_install_locked()) {
		pthread_mutex_unlock(&g_guard.lock);
		return mem_err("cannot install the SIGBUS handler for a file that may shrink");
	}
	for (c = &g_guard.first; c != NULL && s == NULL; c = atomic_load(&c->next)) {
		last = c;
		for (i = 0; i < GUARD_CHUNK_SLOTS && s == NULL; i++) {
			if (atomic_load_explicit(&c->slots[i].start, memory_order_relaxed) == 0) {
				s = &c->slots[i];
			}
		}
	}
	if (s == NULL && (c = calloc(1, sizeof(*c))) != NULL) {
		s = &c->slots[0];
		atomic_store_explicit(&last->next, c, memory_order_release);
	}
	if (s != NULL) {
		atomic_store_explicit(&s->replaced, false, memory_order_relaxed);
		atomic_store_explicit(&s->len, m->len, memory_order_relaxed);
		atomic_store_explicit(&s->start, (uintptr_t)m->addr, memory_order_release);
	}
	pthread_mutex_unlock(&g_guard.lock);
	m->guard = s;
	return s != NULL ? NULL : mem_err("out of memory");
}

bool
vhost_mem_vanished(const struct vhost_mem *mem)
{
	uint32_t i;

	if (mem == NULL || !mem->may_vanish ||
	    atomic_load_explicit(&g_guard.replaced, memory_order_relaxed) == 0) {
		return false;
	}
	for (i = 0; i < mem->nregions; i++) {
		const struct vhost_mem_mapping *m = mem->regions[i].mapping;

		if (m != NULL && m->guard != NULL &&
		    atomic_load_explicit(&m->guard->replaced, memory_order_relaxed)) {
			return true;
		}
	}
	return false;
}

/* A finished table: note whether any of its regions may vanish. */
static struct vhost_mem *
mem_finish(struct vhost_mem *mem)
{
	uint32_t i;

	mem->may_vanish = false;
	for (i = 0; i < mem->nregions; i++) {
		if (mem->regions[i].mapping != NULL && mem->regions[i].mapping->guard != NULL) {
			mem->may_vanish = true;
		}
	}
	return mem;
}

/* m is about to be unmapped: free its slot; log if the handler had to step in. */
static void
guard_unregister(struct vhost_mem_mapping *m)
{
	struct guard_slot *s = m->guard;

	if (s == NULL) {
		return;
	}
	if (atomic_load_explicit(&s->replaced, memory_order_relaxed)) {
		SPUR_ERRLOG("vhost: a guest memory region (%zu bytes) was truncated by the "
			    "frontend while mapped; spur read zero pages there\n", m->len);
	}
	atomic_store_explicit(&s->start, 0, memory_order_release);
	m->guard = NULL;
}

/* ---- background unmapping -------------------------------------------------- */

static struct {
	pthread_mutex_t lock;
	pthread_cond_t work;     /* queue not empty */
	pthread_cond_t idle;     /* queue empty and nothing being unmapped */
	struct vhost_mem_mapping *head, **tail;
	bool started, failed, busy;
	bool reactors_known;     /* vhost_mem_set_reactor_cores was called */
	cpu_set_t reactors;
	uint64_t done;
} g_unmap = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.work = PTHREAD_COND_INITIALIZER,
	.idle = PTHREAD_COND_INITIALIZER,
};

/*
 * munmap [addr, addr + len) piece by piece (see the file comment): every
 * call releases the mm lock, so a reactor waiting for it gets it after one
 * piece. A piece the kernel refuses (a granularity we did not know) ends
 * the loop with one munmap of the rest.
 */
static void
unmap_chunked(void *addr, size_t len, size_t page)
{
	size_t chunk = UNMAP_CHUNK, off = 0, n;

	if (page > chunk) {
		chunk = page;
	} else if (page != 0) {
		chunk -= chunk % page;
	}
	while (off < len) {
		n = len - off < chunk ? len - off : chunk;
		if (munmap((uint8_t *)addr + off, n) != 0) {
			break;
		}
		off += n;
	}
	if (off < len && munmap((uint8_t *)addr + off, len - off) != 0) {
		SPUR_ERRLOG("vhost: munmap(%p, %zu) failed: %s\n", (uint8_t *)addr + off,
			    len - off, strerror(errno));
	}
}

void
vhost_mem_set_reactor_cores(const cpu_set_t *cores)
{
	pthread_mutex_lock(&g_unmap.lock);
	if (cores != NULL && CPU_COUNT(cores) > 0) {
		g_unmap.reactors = *cores;
		g_unmap.reactors_known = true;
	}
	pthread_mutex_unlock(&g_unmap.lock);
}

/* Where the helper runs (see the file comment). */
enum helper_place {
	HELPER_INHERIT,      /* reactors unknown (no session ever): the creator's cores */
	HELPER_OFF_REACTORS, /* the machine's other cores */
	HELPER_LOW_PRIORITY, /* every core runs a reactor: its creator's, at nice 19 */
};

/*
 * With g_unmap.lock held: where the helper should run and, for
 * HELPER_OFF_REACTORS, its cores: every core of the machine but the
 * reactors'. The kernel keeps only those the process's cpuset cgroup
 * allows; an affinity mask spur was started with (taskset) is not known
 * any more once the reactors pinned themselves, so it does not apply.
 */
static enum helper_place
helper_place_locked(cpu_set_t *set)
{
	long n = sysconf(_SC_NPROCESSORS_CONF);
	long i;

	CPU_ZERO(set);
	if (!g_unmap.reactors_known) {
		return HELPER_INHERIT;
	}
	for (i = 0; i < n && i < CPU_SETSIZE; i++) {
		if (!CPU_ISSET(i, &g_unmap.reactors)) {
			CPU_SET(i, set);
		}
	}
	return CPU_COUNT(set) > 0 ? HELPER_OFF_REACTORS : HELPER_LOW_PRIORITY;
}

static void *
unmap_thread(void *arg)
{
	struct vhost_mem_mapping *m;

	if ((enum helper_place)(uintptr_t)arg == HELPER_LOW_PRIORITY) {
		/* Linux takes a thread id for a per-thread nice value. */
		setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
	}
	pthread_mutex_lock(&g_unmap.lock);
	for (;;) {
		while (g_unmap.head == NULL) {
			pthread_cond_broadcast(&g_unmap.idle);
			pthread_cond_wait(&g_unmap.work, &g_unmap.lock);
		}
		m = g_unmap.head;
		g_unmap.head = m->next;
		if (g_unmap.head == NULL) {
			g_unmap.tail = &g_unmap.head;
		}
		g_unmap.busy = true;
		pthread_mutex_unlock(&g_unmap.lock);

		guard_unregister(m);
		unmap_chunked(m->addr, m->len, m->page);
		free(m);

		pthread_mutex_lock(&g_unmap.lock);
		g_unmap.busy = false;
		g_unmap.done++;
	}
	return NULL;
}

/* pthread_create of the helper at place (cores for HELPER_OFF_REACTORS); 0 or an errno. */
static int
helper_create(pthread_t *tid, enum helper_place place, const cpu_set_t *cores)
{
	pthread_attr_t attr;
	int rc;

	if (place != HELPER_OFF_REACTORS) {
		return pthread_create(tid, NULL, unmap_thread, (void *)(uintptr_t)place);
	}
	rc = pthread_attr_init(&attr);
	if (rc != 0) {
		return rc;
	}
	rc = pthread_attr_setaffinity_np(&attr, sizeof(*cores), cores);
	if (rc == 0) {
		rc = pthread_create(tid, &attr, unmap_thread, (void *)(uintptr_t)place);
	}
	pthread_attr_destroy(&attr);
	return rc;
}

/* With g_unmap.lock held: start the helper once. False if it cannot run. */
static bool
unmap_start_locked(void)
{
	enum helper_place place;
	pthread_t tid;
	sigset_t all, old;
	cpu_set_t cores;
	int rc;

	if (g_unmap.started) {
		return true;
	}
	if (g_unmap.failed) {
		return false;
	}
	g_unmap.tail = &g_unmap.head;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	place = helper_place_locked(&cores);
	rc = helper_create(&tid, place, &cores);
	if (rc == EINVAL && place == HELPER_OFF_REACTORS) {
		/* The process's cpuset allows none of the other cores. */
		place = HELPER_LOW_PRIORITY;
		rc = helper_create(&tid, place, NULL);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		g_unmap.failed = true;
		SPUR_ERRLOG("vhost: cannot start the unmap thread (%s); unmapping inline\n",
			    strerror(rc));
		return false;
	}
	if (place == HELPER_LOW_PRIORITY) {
		SPUR_NOTICELOG("vhost: every core runs a reactor; the unmap thread shares one at "
			       "the lowest priority\n");
	}
	pthread_setname_np(tid, "vhost_unmap");
	pthread_detach(tid);
	g_unmap.started = true;
	return true;
}

/* Queue m (refs 0) for munmap and free; takes ownership. */
static void
unmap_queue(struct vhost_mem_mapping *m)
{
	m->next = NULL;
	pthread_mutex_lock(&g_unmap.lock);
	if (!unmap_start_locked()) {
		g_unmap.done++;
		pthread_mutex_unlock(&g_unmap.lock);
		guard_unregister(m);
		unmap_chunked(m->addr, m->len, m->page);
		free(m);
		return;
	}
	*g_unmap.tail = m;
	g_unmap.tail = &m->next;
	pthread_cond_signal(&g_unmap.work);
	pthread_mutex_unlock(&g_unmap.lock);
}

void
vhost_mem_unmap_async(void *addr, size_t len)
{
	struct vhost_mem_mapping *m;

	if (addr == NULL || len == 0) {
		return;
	}
	m = calloc(1, sizeof(*m));
	if (m == NULL) {
		munmap(addr, len);
		return;
	}
	m->addr = addr;
	m->len = len;
	m->page = 0;      /* unknown: the first piece the kernel refuses unmaps the rest */
	unmap_queue(m);
}

uint64_t
vhost_mem_unmap_drain(void)
{
	uint64_t done;

	pthread_mutex_lock(&g_unmap.lock);
	while (g_unmap.started && (g_unmap.head != NULL || g_unmap.busy)) {
		pthread_cond_wait(&g_unmap.idle, &g_unmap.lock);
	}
	done = g_unmap.done;
	pthread_mutex_unlock(&g_unmap.lock);
	return done;
}

static void
mapping_get(struct vhost_mem_mapping *m)
{
	atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
}

static void
mapping_put(struct vhost_mem_mapping *m)
{
	if (m != NULL && atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1) {
		unmap_queue(m);
	}
}

/* ---- errors -------------------------------------------------------------------- */

static __thread char tls_err[256];

static const char *
mem_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(tls_err, sizeof(tls_err), fmt, ap);
	va_end(ap);
	return tls_err;
}

/* ---- building ------------------------------------------------------------------ */

static struct vhost_mem *
mem_alloc(uint32_t n)
{
	struct vhost_mem *mem = calloc(1, sizeof(*mem) + (size_t)n * sizeof(mem->regions[0]));

	if (mem != NULL) {
		atomic_init(&mem->refs, 1);
		mem->nregions = n;
	}
	return mem;
}

/* Drop every mapping reference the table holds and free it (not its refs). */
static void
mem_free(struct vhost_mem *mem)
{
	uint32_t i;

	for (i = 0; i < mem->nregions; i++) {
		mapping_put(mem->regions[i].mapping);
	}
	free(mem);
}

static const char *
desc_check(const struct vhost_mem_desc *d, uint32_t i)
{
	if (d->size == 0) {
		return mem_err("region %u has size 0", i);
	}
	if (d->gpa > UINT64_MAX - d->size || d->uva > UINT64_MAX - d->size ||
	    d->mmap_offset > UINT64_MAX - d->size) {
		return mem_err("region %u (gpa 0x%" PRIx64 ", size 0x%" PRIx64
			       ") overflows 64 bits", i, d->gpa, d->size);
	}
	if (d->fd < 0) {
		return mem_err("region %u has no file descriptor", i);
	}
	return NULL;
}

static int
cmp_gpa(const void *a, const void *b)
{
	const struct vhost_mem_region *x = a, *y = b;

	return x->gpa < y->gpa ? -1 : x->gpa > y->gpa;
}

static int
cmp_uva(const void *a, const void *b)
{
	const struct vhost_mem_region *x = *(const struct vhost_mem_region *const *)a;
	const struct vhost_mem_region *y = *(const struct vhost_mem_region *const *)b;

	return x->uva < y->uva ? -1 : x->uva > y->uva;
}

/*
 * Sort mem's regions by gpa (carrying the per-region fds along in fds[],
 * which may be NULL) and refuse overlaps in gpa or uva.
 */
static const char *
mem_sort_check(struct vhost_mem *mem, int *fds)
{
	struct vhost_mem_region **by_uva;
	const struct vhost_mem_region *a, *b;
	const char *err = NULL;
	uint32_t i, n = mem->nregions;

	/* Insertion sort: fds must follow their region; n <= 509. */
	for (i = 1; i < n; i++) {
		struct vhost_mem_region r = mem->regions[i];
		int fd = fds ? fds[i] : -1;
		uint32_t j = i;

		while (j > 0 && cmp_gpa(&mem->regions[j - 1], &r) > 0) {
			mem->regions[j] = mem->regions[j - 1];
			if (fds) {
				fds[j] = fds[j - 1];
			}
			j--;
		}
		mem->regions[j] = r;
		if (fds) {
			fds[j] = fd;
		}
	}
	for (i = 1; i < n; i++) {
		a = &mem->regions[i - 1];
		b = &mem->regions[i];
		if (a->gpa + a->size > b->gpa) {
			return mem_err("regions overlap in guest memory: [0x%" PRIx64 ", 0x%" PRIx64
				       ") and [0x%" PRIx64 ", 0x%" PRIx64 ")", a->gpa,
				       a->gpa + a->size, b->gpa, b->gpa + b->size);
		}
	}
	if (n < 2) {
		return NULL;
	}
	by_uva = malloc(n * sizeof(*by_uva));
	if (by_uva == NULL) {
		return mem_err("out of memory");
	}
	for (i = 0; i < n; i++) {
		by_uva[i] = &mem->regions[i];
	}
	qsort(by_uva, n, sizeof(*by_uva), cmp_uva);
	for (i = 1; i < n && err == NULL; i++) {
		a = by_uva[i - 1];
		b = by_uva[i];
		if (a->uva + a->size > b->uva) {
			err = mem_err("regions overlap in frontend addresses: [0x%" PRIx64 ", 0x%"
				      PRIx64 ") and [0x%" PRIx64 ", 0x%" PRIx64 ")", a->uva,
				      a->uva + a->size, b->uva, b->uva + b->size);
		}
	}
	free(by_uva);
	return err;
}

/* Mapping granularity of fd: the huge page size on hugetlbfs, else the page size. */
static uint64_t
fd_page_size(int fd)
{
	long page = sysconf(_SC_PAGESIZE);
	struct statfs sfs;

	if (fstatfs(fd, &sfs) == 0 && (uint64_t)sfs.f_type == HUGETLBFS_MAGIC &&
	    sfs.f_bsize > 0 && ((uint64_t)sfs.f_bsize & ((uint64_t)sfs.f_bsize - 1)) == 0) {
		return (uint64_t)sfs.f_bsize;
	}
	return page > 0 ? (uint64_t)page : 4096;
}

/* Identify the file behind r's fd and check it covers the region. */
static const char *
region_stat(struct vhost_mem_region *r, int fd)
{
	struct stat st;

	if (fstat(fd, &st) != 0) {
		return mem_err("region at gpa 0x%" PRIx64 ": fstat: %s", r->gpa, strerror(errno));
	}
	if (!S_ISREG(st.st_mode)) {
		return mem_err("region at gpa 0x%" PRIx64 ": fd is not a regular file or memfd",
			       r->gpa);
	}
	if ((uint64_t)st.st_size < r->mmap_offset + r->size) {
		return mem_err("region at gpa 0x%" PRIx64 ": offset 0x%" PRIx64 " + size 0x%"
			       PRIx64 " is past the end of its file (0x%" PRIx64 " bytes)", r->gpa,
			       r->mmap_offset, r->size, (uint64_t)st.st_size);
	}
	r->dev = st.st_dev;
	r->ino = st.st_ino;
	return NULL;
}

/* mmap r's range of fd (aligned to the fd's page size) into a new mapping. */
static const char *
region_map(struct vhost_mem_region *r, int fd)
{
	struct vhost_mem_mapping *m;
	uint64_t align = fd_page_size(fd), off, delta, len;
	const char *e;
	void *addr;

	off = r->mmap_offset & ~(align - 1);
	delta = r->mmap_offset - off;
	if (r->size > UINT64_MAX - delta - align || (r->size + delta) > SIZE_MAX - align) {
		return mem_err("region at gpa 0x%" PRIx64 " is too large", r->gpa);
	}
	len = (r->size + delta + align - 1) & ~(align - 1);
	m = calloc(1, sizeof(*m));
	if (m == NULL) {
		return mem_err("out of memory");
	}
	addr = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)off);
	if (addr == MAP_FAILED) {
		free(m);
		return mem_err("region at gpa 0x%" PRIx64 " (size 0x%" PRIx64 ", offset 0x%" PRIx64
			       "): mmap: %s", r->gpa, r->size, r->mmap_offset, strerror(errno));
	}
	/* A core dump of spur must not contain the guests' memory. */
	madvise(addr, (size_t)len, MADV_DONTDUMP);
	atomic_init(&m->refs, 1);
	m->addr = addr;
	m->len = (size_t)len;
	m->page = (size_t)align;
	e = guard_register(m, fd);
	if (e != NULL) {
		munmap(addr, (size_t)len);
		free(m);
		return e;
	}
	r->mapping = m;
	r->map_addr = addr;
	r->map_len = (size_t)len;
	r->host = (uint8_t *)addr + delta;
	return NULL;
}

static const struct vhost_mem_region *
find_identical(const struct vhost_mem *old, const struct vhost_mem_region *r)
{
	uint32_t i;

	for (i = 0; old != NULL && i < old->nregions; i++) {
		const struct vhost_mem_region *o = &old->regions[i];

		if (o->dev == r->dev && o->ino == r->ino && o->mmap_offset == r->mmap_offset &&
		    o->size == r->size && o->gpa == r->gpa && o->uva == r->uva) {
			return o;
		}
	}
	return NULL;
}

/* Identify, then share with old or map, region i using fd. */
static const char *
region_attach(struct vhost_mem_region *r, int fd, const struct vhost_mem *old)
{
	const struct vhost_mem_region *same;
	const char *err = region_stat(r, fd);

	if (err != NULL) {
		return err;
	}
	same = find_identical(old, r);
	if (same != NULL) {
		mapping_get(same->mapping);
		r->mapping = same->mapping;
		r->map_addr = same->map_addr;
		r->map_len = same->map_len;
		r->host = same->host;
		return NULL;
	}
	return region_map(r, fd);
}

static void
close_fds(int *fds, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++) {
		if (fds[i] >= 0) {
			close(fds[i]);
			fds[i] = -1;
		}
	}
}

struct vhost_mem *
vhost_mem_build(const struct vhost_mem_desc *descs, uint32_t count, const struct vhost_mem *old,
		const char **err)
{
	struct vhost_mem *mem = NULL;
	int *fds = NULL;
	const char *e = NULL;
	uint32_t i;

	if (count > VHOST_MEM_MAX_REGIONS) {
		e = mem_err("%u regions, at most %u supported", count, VHOST_MEM_MAX_REGIONS);
		goto fail_descs;
	}
	for (i = 0; i < count && e == NULL; i++) {
		e = desc_check(&descs[i], i);
	}
	if (e != NULL) {
		goto fail_descs;
	}
	mem = mem_alloc(count);
	fds = malloc((count ? count : 1) * sizeof(*fds));
	if (mem == NULL || fds == NULL) {
		e = mem_err("out of memory");
		goto fail_descs;
	}
	for (i = 0; i < count; i++) {
		mem->regions[i].gpa = descs[i].gpa;
		mem->regions[i].size = descs[i].size;
		mem->regions[i].uva = descs[i].uva;
		mem->regions[i].mmap_offset = descs[i].mmap_offset;
		fds[i] = descs[i].fd;
	}
	e = mem_sort_check(mem, fds);
	for (i = 0; i < count && e == NULL; i++) {
		e = region_attach(&mem->regions[i], fds[i], old);
	}
	close_fds(fds, count);
	free(fds);
	if (e != NULL) {
		mem_free(mem);
		*err = e;
		return NULL;
	}
	return mem_finish(mem);

fail_descs:
	for (i = 0; i < count; i++) {
		if (descs[i].fd >= 0) {
			close(descs[i].fd);
		}
	}
	free(mem);
	free(fds);
	*err = e;
	return NULL;
}

struct vhost_mem *
vhost_mem_add_region(const struct vhost_mem *old, const struct vhost_mem_desc *d,
		     const char **err)
{
	uint32_t i, n = old ? old->nregions : 0;
	struct vhost_mem *mem;
	struct vhost_mem_region *r = NULL;
	const char *e;
	int fd = d->fd;

	if (n >= VHOST_MEM_MAX_REGIONS) {
		e = mem_err("table full (%u regions)", n);
		goto fail_fd;
	}
	e = desc_check(d, n);
	if (e != NULL) {
		goto fail_fd;
	}
	mem = mem_alloc(n + 1);
	if (mem == NULL) {
		e = mem_err("out of memory");
		goto fail_fd;
	}
	/* Old regions keep their mappings; the new one goes last, mapped after the check. */
	for (i = 0; i < n; i++) {
		mem->regions[i] = old->regions[i];
		mapping_get(mem->regions[i].mapping);
	}
	mem->regions[n].gpa = d->gpa;
	mem->regions[n].size = d->size;
	mem->regions[n].uva = d->uva;
	mem->regions[n].mmap_offset = d->mmap_offset;
	e = mem_sort_check(mem, NULL);
	for (i = 0; i <= n && e == NULL; i++) {
		if (mem->regions[i].mapping == NULL) {
			r = &mem->regions[i];
		}
	}
	if (e == NULL) {
		e = region_stat(r, fd);
	}
	if (e == NULL) {
		e = region_map(r, fd);
	}
	close(fd);
	if (e != NULL) {
		mem_free(mem);
		*err = e;
		return NULL;
	}
	return mem_finish(mem);

fail_fd:
	if (fd >= 0) {
		close(fd);
	}
	*err = e;
	return NULL;
}

struct vhost_mem *
vhost_mem_remove_region(const struct vhost_mem *old, const struct vhost_mem_desc *d,
			const char **err)
{
	uint32_t i, j, n = old ? old->nregions : 0;
	struct vhost_mem *mem;

	if (d->fd >= 0) {
		close(d->fd);
	}
	for (i = 0; i < n; i++) {
		if (old->regions[i].gpa == d->gpa && old->regions[i].uva == d->uva &&
		    old->regions[i].size == d->size) {
			break;
		}
	}
	if (i == n) {
		*err = mem_err("no region at gpa 0x%" PRIx64 " uva 0x%" PRIx64 " size 0x%" PRIx64,
			       d->gpa, d->uva, d->size);
		return NULL;
	}
	mem = mem_alloc(n - 1);
	if (mem == NULL) {
		*err = mem_err("out of memory");
		return NULL;
	}
	for (j = 0; j < n - 1; j++) {
		mem->regions[j] = old->regions[j < i ? j : j + 1];
		mapping_get(mem->regions[j].mapping);
	}
	return mem_finish(mem);
}

void
vhost_mem_get(struct vhost_mem *mem)
{
	atomic_fetch_add_explicit(&mem->refs, 1, memory_order_relaxed);
}

void
vhost_mem_put(struct vhost_mem *mem)
{
	if (mem != NULL && atomic_fetch_sub_explicit(&mem->refs, 1, memory_order_acq_rel) == 1) {
		mem_free(mem);
	}
}

/* ---- translation ------------------------------------------------------------- */

/* Last region hit, per OS thread (a poll group's thread translates for its queues). */
static __thread const struct vhost_mem *tls_last_mem;
static __thread uint32_t tls_last_idx;

static inline const struct vhost_mem_region *
find_gpa(const struct vhost_mem *mem, uint64_t gpa)
{
	const struct vhost_mem_region *r;
	uint32_t lo = 0, hi = mem->nregions, mid;

	if (spur_likely(tls_last_mem == mem && tls_last_idx < mem->nregions)) {
		r = &mem->regions[tls_last_idx];
		if (spur_likely(gpa - r->gpa < r->size)) {
			return r;
		}
	}
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		r = &mem->regions[mid];
		if (gpa < r->gpa) {
			hi = mid;
		} else if (gpa - r->gpa >= r->size) {
			lo = mid + 1;
		} else {
			tls_last_mem = mem;
			tls_last_idx = mid;
			return r;
		}
	}
	return NULL;
}

void *
vhost_mem_gpa_to_host(const struct vhost_mem *mem, uint64_t gpa, uint64_t len)
{
	const struct vhost_mem_region *r;
	uint64_t off;

	if (spur_unlikely(mem == NULL)) {
		return NULL;
	}
	r = find_gpa(mem, gpa);
	if (spur_unlikely(r == NULL)) {
		return NULL;
	}
	off = gpa - r->gpa;
	if (spur_unlikely(len > r->size - off)) {
		return NULL;
	}
	return r->host + off;
}

void *
vhost_mem_uva_to_host(const struct vhost_mem *mem, uint64_t uva, uint64_t len)
{
	const struct vhost_mem_region *r;
	uint32_t i;

	for (i = 0; mem != NULL && i < mem->nregions; i++) {
		r = &mem->regions[i];
		if (uva - r->uva < r->size) {
			if (len > r->size - (uva - r->uva)) {
				return NULL;
			}
			return r->host + (uva - r->uva);
		}
	}
	return NULL;
}

int
vhost_mem_gpa_to_iovs(const struct vhost_mem *mem, uint64_t gpa, uint32_t len,
		      struct iovec *iov, uint32_t *iovcnt, uint32_t max)
{
	const struct vhost_mem_region *r;
	uint32_t start = *iovcnt, n = *iovcnt;
	uint64_t off, chunk;
	uint8_t *host;

	if (spur_unlikely(len == 0 || gpa > UINT64_MAX - len || mem == NULL)) {
		return -EFAULT;
	}
	while (len > 0) {
		r = find_gpa(mem, gpa);
		if (spur_unlikely(r == NULL)) {
			*iovcnt = start;
			return -EFAULT;
		}
		off = gpa - r->gpa;
		chunk = SPUR_MIN((uint64_t)len, r->size - off);
		host = r->host + off;
		/* Regions that happen to be contiguous here too share an iovec. */
		if (n > start && (uint8_t *)iov[n - 1].iov_base + iov[n - 1].iov_len == host) {
			iov[n - 1].iov_len += chunk;
		} else {
			if (spur_unlikely(n >= max)) {
				*iovcnt = start;
				return -E2BIG;
			}
			iov[n].iov_base = host;
			iov[n].iov_len = chunk;
			n++;
		}
		gpa += chunk;
		len -= (uint32_t)chunk;
	}
	*iovcnt = n;
	return 0;
}
