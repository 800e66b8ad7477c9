/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * spur_vhost_memstall's view of the spur process through /proc (only with
 * --spur-pid): the reactor thread's run-queue wait (how long it was ready
 * but another thread had its core: the figure that separates "spur was
 * preempted" from "spur was busy"), its resident memory, its mappings of
 * the large guest, and the CPU time and allowed cores of its background
 * unmap thread ("vhost_unmap").
 *
 * With -m 0x1 spur's only reactor runs on the process's main thread, so
 * its tid is the pid.
 *
 * Threading: main thread only.
 */
#include <dirent.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "memstall.h"

int
ms_proc_sched(int pid, int tid, uint64_t *cpu_ns, uint64_t *wait_ns)
{
	char path[64];
	unsigned long long cpu = 0, wait = 0;
	FILE *f;
	int n;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/schedstat", pid, tid);
	f = fopen(path, "r");
	if (f == NULL) {
		return -1;
	}
	n = fscanf(f, "%llu %llu", &cpu, &wait);
	fclose(f);
	if (n != 2) {
		return -1;
	}
	*cpu_ns = cpu;
	*wait_ns = wait;
	return 0;
}

/* The unmap thread's CPU time and allowed cores; false if it does not exist (yet). */
static bool
unmap_thread(int pid, uint64_t *cpu_ns, char *cpus, size_t cpus_len)
{
	char path[128], line[256];
	struct dirent *e;
	uint64_t wait;
	bool found = false;
	DIR *d;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	while (d != NULL && !found && (e = readdir(d)) != NULL) {
		char *end;
		long tid = strtol(e->d_name, &end, 10);

		if (tid <= 0 || *end != '\0') {
			continue;
		}
		snprintf(path, sizeof(path), "/proc/%d/task/%ld/comm", pid, tid);
		f = fopen(path, "r");
		if (f == NULL) {
			continue;
		}
		found = fgets(line, sizeof(line), f) != NULL && strncmp(line, "vhost_unmap", 11) == 0;
		fclose(f);
		if (!found) {
			continue;
		}
		ms_proc_sched(pid, (int)tid, cpu_ns, &wait);
		snprintf(path, sizeof(path), "/proc/%d/task/%ld/status", pid, tid);
		f = fopen(path, "r");
		while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
			if (strncmp(line, "Cpus_allowed_list:", 18) == 0) {
				snprintf(cpus, cpus_len, "%s", line + 18 + strspn(line + 18, " \t"));
				cpus[strcspn(cpus, "\n")] = '\0';
			}
		}
		if (f != NULL) {
			fclose(f);
		}
	}
	if (d != NULL) {
		closedir(d);
	}
	return found;
}

void
ms_proc_report(int pid, const char *when)
{
	char path[64], line[512], cpus[64] = "-";
	uint64_t rss = 0, shmem = 0, maps = 0, unmap_cpu = 0;
	FILE *f;

	if (pid <= 0) {
		return;
	}
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		sscanf(line, "VmRSS: %" SCNu64, &rss);
		sscanf(line, "RssShmem: %" SCNu64, &shmem);
	}
	if (f != NULL) {
		fclose(f);
	}
	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "r");
	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		maps += strstr(line, "spur_memstall_big") != NULL;
	}
	if (f != NULL) {
		fclose(f);
	}
	unmap_thread(pid, &unmap_cpu, cpus, sizeof(cpus));
	printf("spur_mem %-12s rss_mib %" PRIu64 " shmem_mib %" PRIu64 " big_guest_mappings %"
	       PRIu64 " unmap_thread_cpu_ms %.1f unmap_thread_cpus %s\n", when, rss >> 10,
	       shmem >> 10, maps, (double)unmap_cpu / 1e6, cpus);
	fflush(stdout);
}
