/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * spur_vhost_memstall: options, the run (baseline, disruption, after) and
 * the report. See memstall.h for what the tool measures.
 *
 * The run:
 *   victim starts; disruptor connects (phase idle)
 *   baseline      the disruptor is connected and idle, baseline_ms
 *   iterations x  for each operation: a round of disruptor I/O (phase
 *                 disruptor_io), then the operation's two steps, each
 *                 followed by settle_ms in its own phase
 *   disconnect    the disruptor closes (final teardown), settle_ms
 *   after         baseline_ms with the disruptor gone
 * With --spur-pid, spur's resident memory and its mappings of the large
 * guest (/proc/<pid>/status and maps) are reported after set-up, after the
 * first round of I/O and at the end.
 *
 * Output: the victim's table per phase, the disruptor's operation times
 * and one "RESULT key value ..." line for scripts. Exit status 0 when the
 * victim saw no error and lost no request and every operation succeeded.
 *
 * Threading: the main thread is the disruptor; the victim has its own.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "memstall.h"

static const char *const g_op_names[MS_OP_KINDS] = {
	[MS_OP_REMAP] = "remap",
	[MS_OP_UNPLUG] = "unplug",
	[MS_OP_SLOTS] = "slots",
	[MS_OP_RECONNECT] = "reconnect",
};

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: spur_vhost_memstall --victim SOCKET --big SOCKET [options]\n"
		"  --victim PATH        vhost-user-blk socket of the victim's controller\n"
		"  --big PATH           vhost-user-blk socket of the disruptor's controller\n"
		"                       (same spur core; its bdev should zero reads)\n"
		"  -q, --depth Q        victim's requests in flight (default 32)\n"
		"  --victim-mem SIZE    victim's guest memory (default 64m)\n"
		"  --guest-size SIZE    disruptor's guest memory, sparse (default 128g)\n"
		"  --regions N          regions of the disruptor's table, 1..8 (default 8)\n"
		"  --touch SIZE         bytes spur writes in the large guest per round (default 1g)\n"
		"  --touch-io SIZE      request size of those writes (default 128k)\n"
		"  -i, --iterations N   rounds of the operations (default 3)\n"
		"  --ops LIST           comma-separated: remap,unplug,slots,reconnect (default all)\n"
		"  --baseline-ms MS     length of the baseline and after windows (default 2000)\n"
		"  --settle-ms MS       victim measured this long after each step (default 500)\n"
		"  --victim-core N      pin the victim thread\n"
		"  --big-core N         pin the disruptor (main) thread\n"
		"  --spur-pid PID       report spur's memory from /proc\n"
		"SIZE takes k, m, g suffixes.\n");
}

static int
parse_ops(const char *list, struct ms_opts *o)
{
	char buf[128], *tok, *save = NULL;
	int k;

	if (strlen(list) >= sizeof(buf)) {
		return -EINVAL;
	}
	memcpy(buf, list, strlen(list) + 1);
	memset(o->ops, 0, sizeof(o->ops));
	for (tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		for (k = 0; k < MS_OP_KINDS && strcmp(tok, g_op_names[k]) != 0; k++) {
		}
		if (k == MS_OP_KINDS) {
			return -EINVAL;
		}
		o->ops[k] = true;
	}
	return 0;
}

static int
parse_opts(int argc, char **argv, struct ms_opts *o)
{
	enum { O_VICTIM = 256, O_BIG, O_VMEM, O_GSIZE, O_REGIONS, O_TOUCH, O_TOUCH_IO, O_OPS,
	       O_BASE, O_SETTLE, O_VCORE, O_BCORE, O_PID };
	static const struct option longopts[] = {
		{"victim", required_argument, NULL, O_VICTIM},
		{"big", required_argument, NULL, O_BIG},
		{"depth", required_argument, NULL, 'q'},
		{"victim-mem", required_argument, NULL, O_VMEM},
		{"guest-size", required_argument, NULL, O_GSIZE},
		{"regions", required_argument, NULL, O_REGIONS},
		{"touch", required_argument, NULL, O_TOUCH},
		{"touch-io", required_argument, NULL, O_TOUCH_IO},
		{"iterations", required_argument, NULL, 'i'},
		{"ops", required_argument, NULL, O_OPS},
		{"baseline-ms", required_argument, NULL, O_BASE},
		{"settle-ms", required_argument, NULL, O_SETTLE},
		{"victim-core", required_argument, NULL, O_VCORE},
		{"big-core", required_argument, NULL, O_BCORE},
		{"spur-pid", required_argument, NULL, O_PID},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	uint64_t v;
	int c, k;

	*o = (struct ms_opts){.victim_depth = 32, .victim_mem = 64 * MS_MIB,
			      .guest_size = 128 * MS_GIB, .regions = 8, .touch = MS_GIB,
			      .touch_io = 128 * 1024, .iterations = 3, .baseline_ms = 2000,
			      .settle_ms = 500, .victim_core = -1, .big_core = -1};
	for (k = 0; k < MS_OP_KINDS; k++) {
		o->ops[k] = true;
	}
	while ((c = getopt_long(argc, argv, "q:i:h", longopts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			exit(0);
		}
		if (c == O_VICTIM || c == O_BIG) {
			*(c == O_VICTIM ? &o->victim_sock : &o->big_sock) = optarg;
			continue;
		}
		if (c == O_OPS) {
			if (parse_ops(optarg, o) != 0) {
				goto bad;
			}
			continue;
		}
		if (c == '?' || tool_parse_size(optarg, &v) != 0) {
			goto bad;
		}
		switch (c) {
		case 'q':
			if (v == 0 || v > 1024) goto bad;
			o->victim_depth = (uint32_t)v;
			break;
		case O_VMEM:
			if (v < MS_MIB) goto bad;
			o->victim_mem = v;
			break;
		case O_GSIZE:
			if (v < 8 * MS_MIB) goto bad;
			o->guest_size = v;
			break;
		case O_REGIONS:
			if (v == 0 || v > 8) goto bad;
			o->regions = (uint32_t)v;
			break;
		case O_TOUCH:
			o->touch = v;
			break;
		case O_TOUCH_IO:
			if (v < 4096 || v > 2 * MS_MIB || (2 * MS_MIB) % v != 0) goto bad;
			o->touch_io = (uint32_t)v;
			break;
		case 'i':
			if (v > 100000) goto bad;
			o->iterations = (uint32_t)v;
			break;
		case O_BASE:
		case O_SETTLE:
			if (v > 600000) goto bad;
			*(c == O_BASE ? &o->baseline_ms : &o->settle_ms) = (uint32_t)v;
			break;
		case O_VCORE:
		case O_BCORE:
			if (v >= CPU_SETSIZE) goto bad;
			*(c == O_VCORE ? &o->victim_core : &o->big_core) = (int)v;
			break;
		case O_PID:
			if (v == 0 || v > INT32_MAX) goto bad;
			o->spur_pid = (int)v;
			break;
		default:
			goto bad;
		}
	}
	if (o->victim_sock == NULL || o->big_sock == NULL || optind != argc) {
		usage(stderr);
		return -EINVAL;
	}
	return 0;
bad:
	if (c != '?') {
		fprintf(stderr, "spur_vhost_memstall: bad value for option: %s\n",
			optarg ? optarg : "");
	}
	usage(stderr);
	return -EINVAL;
}

/* ---- the run ------------------------------------------------------------------------- */

/* Let the victim run ms in phase p, in slices as long as a step's window. */
static void
run_window(struct ms_victim *v, enum ms_phase p, uint32_t ms, uint32_t slice)
{
	uint32_t done = 0, n;

	if (slice < 100) {
		slice = 100;
	}
	while (done < ms) {
		n = ms - done < slice ? ms - done : slice;
		ms_set_phase(v, p);
		ms_sleep_ms(n);
		done += n;
	}
}

static int
run_ops(const struct ms_opts *o, struct ms_big *g, struct ms_victim *v)
{
	bool skipped[MS_OP_KINDS] = {false};
	uint32_t it;
	int k, rc;

	for (it = 0; it < o->iterations; it++) {
		for (k = 0; k < MS_OP_KINDS; k++) {
			if (!o->ops[k] || skipped[k]) {
				continue;
			}
			rc = ms_big_run_op(g, (enum ms_op_kind)k, v);
			if (rc == -ENOTSUP) {
				printf("# %s skipped: %s\n", g_op_names[k],
				       o->regions < 2 ? "needs two regions or more" :
				       "backend does not offer CONFIGURE_MEM_SLOTS");
				skipped[k] = true;
				continue;
			}
			if (rc < 0) {
				fprintf(stderr, "spur_vhost_memstall: %s (iteration %u): %s (%s)\n",
					g_op_names[k], it, ms_big_err(g), strerror(-rc));
				return rc;
			}
			if (atomic_load(&v->failed)) {
				return -EIO;
			}
		}
	}
	return 0;
}

static void
report(const struct ms_opts *o, struct ms_victim *v, struct ms_big *g, int rc)
{
	struct ms_window *dis = calloc(1, sizeof(*dis));
	const struct ms_window *base = &v->win[PH_BASELINE];
	uint64_t errors = 0, ops_failed = 0;
	double gap_ratio, p999_ratio, b999, d999, base_med, dis_med;
	int p, i;

	if (dis == NULL) {
		return;
	}
	printf("\nvictim (depth %u, 4 KiB random reads, busy-polling):\n", o->victim_depth);
	ms_window_print_header(stdout);
	for (p = PH_BASELINE; p < PH_COUNT; p++) {
		if (v->win[p].time_ns == 0 && v->win[p].ios == 0) {
			continue;
		}
		ms_window_print(stdout, ms_phase_name((enum ms_phase)p), &v->win[p]);
		if (p >= PH_DISRUPT_FIRST && p <= PH_DISRUPT_LAST) {
			ms_window_merge(dis, &v->win[p]);
		}
		errors += v->win[p].errors;
	}
	ms_window_print(stdout, "disrupting", dis);
	printf("\nper window (one per step and settle; baseline and after in slices as long):\n");
	ms_steps_print(stdout, v, &base_med, &dis_med);
	printf("\nlargest completion gaps:\n");
	for (i = 0; i < MS_TOP_GAPS && v->top[i].gap_ns > 0; i++) {
		printf("  %10.1f us at %8.3f s in %s\n", (double)v->top[i].gap_ns / 1e3,
		       (double)v->top[i].at_ns / 1e9, ms_phase_name(v->top[i].phase));
	}
	printf("\ndisruptor operations (frontend's view, until the reply):\n");
	printf("%-30s %6s %6s %10s %10s %10s\n", "operation", "count", "failed", "min_ms",
	       "avg_ms", "max_ms");
	for (i = 0; i < T_COUNT; i++) {
		const struct ms_op_stats *s = ms_big_op_stats(g, (enum ms_timed_op)i);

		ops_failed += s->failed;
		if (s->count == 0 && s->failed == 0) {
			continue;
		}
		printf("%-30s %6u %6u %10.3f %10.3f %10.3f\n", ms_timed_op_name((enum ms_timed_op)i),
		       s->count, s->failed, (double)s->min_ns / 1e6,
		       s->count ? (double)s->sum_ns / (double)s->count / 1e6 : 0.0,
		       (double)s->max_ns / 1e6);
	}
	b999 = ms_hist_pct(&base->lat, 99.9);
	d999 = ms_hist_pct(&dis->lat, 99.9);
	gap_ratio = base->max_gap_ns ? (double)dis->max_gap_ns / (double)base->max_gap_ns : 0;
	p999_ratio = b999 > 0 ? d999 / b999 : 0;
	printf("\nRESULT status %d victim_failed %d victim_errors %" PRIu64 " victim_lost %" PRIu64
	       " ops_failed %" PRIu64 " baseline_max_gap_us %.1f disrupt_max_gap_us %.1f"
	       " gap_ratio %.2f baseline_max_stall_us %.1f disrupt_max_stall_us %.1f"
	       " baseline_p999_us %.1f disrupt_p999_us %.1f p999_ratio %.2f"
	       " disrupt_max_loop_us %.1f disrupt_ios %" PRIu64 " after_max_gap_us %.1f"
	       " baseline_med_window_stall_us %.1f disrupt_med_window_stall_us %.1f\n",
	       rc, (int)atomic_load(&v->failed), errors, v->lost, ops_failed,
	       (double)base->max_gap_ns / 1e3, (double)dis->max_gap_ns / 1e3, gap_ratio,
	       (double)base->max_stall_ns / 1e3, (double)dis->max_stall_ns / 1e3, b999 / 1e3,
	       d999 / 1e3, p999_ratio, (double)dis->max_loop_ns / 1e3, dis->ios,
	       (double)v->win[PH_AFTER].max_gap_ns / 1e3, base_med / 1e3, dis_med / 1e3);
	if (atomic_load(&v->failed)) {
		printf("# %s\n", v->err);
	}
	free(dis);
}

int
main(int argc, char **argv)
{
	struct ms_victim *v = calloc(1, sizeof(*v));
	struct ms_opts o;
	struct ms_big *g;
	uint64_t errors = 0, start;
	int rc, p;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (v == NULL || parse_opts(argc, argv, &o) < 0) {
		free(v);
		return 2;
	}
	if (o.big_core >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(o.big_core, &set);
		if (sched_setaffinity(0, sizeof(set), &set) != 0) {
			perror("spur_vhost_memstall: sched_setaffinity");
			return 2;
		}
	}
	printf("# victim %s depth %u; disruptor %s: %" PRIu64 " MiB guest in %u regions, "
	       "%" PRIu64 " MiB written by spur per round in %u-byte reads; %u iterations, "
	       "settle %u ms\n", o.victim_sock, o.victim_depth, o.big_sock, o.guest_size >> 20,
	       o.regions, o.touch >> 20, o.touch_io, o.iterations, o.settle_ms);
	start = tool_now_ns();
	rc = ms_victim_start(v, &o, start);
	if (rc < 0) {
		fprintf(stderr, "spur_vhost_memstall: %s\n", v->err);
		free(v);
		return 1;
	}
	/*
	 * The disruptor mostly sleeps in recv; a higher weight (best effort,
	 * needs privilege) lets it run at once when spur answers, so its
	 * operation times are spur's, not the wait for the victim's core.
	 * The victim thread, created before, keeps nice 0.
	 */
	setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), -10);
	g = ms_big_create(&o);
	if (g == NULL) {
		ms_victim_stop(v);
		free(v);
		return 1;
	}
	ms_proc_report(o.spur_pid, "set_up");
	run_window(v, PH_BASELINE, o.baseline_ms, o.settle_ms);
	/* One round of I/O first, to show how much of the guest spur then maps. */
	ms_set_phase(v, PH_TOUCH);
	rc = ms_big_touch(g);
	if (rc < 0) {
		fprintf(stderr, "spur_vhost_memstall: disruptor I/O: %s\n", ms_big_err(g));
	} else {
		ms_proc_report(o.spur_pid, "touched");
		rc = run_ops(&o, g, v);
	}

	ms_set_phase(v, PH_DISCONNECT);
	ms_big_disconnect(g);
	ms_sleep_ms(o.settle_ms);
	run_window(v, PH_AFTER, o.baseline_ms, o.settle_ms);
	ms_set_phase(v, PH_IDLE);
	ms_proc_report(o.spur_pid, "end");
	ms_victim_stop(v);

	report(&o, v, g, rc);
	for (p = 0; p < PH_COUNT; p++) {
		errors += v->win[p].errors;
	}
	for (p = 0; p < T_COUNT; p++) {
		errors += ms_big_op_stats(g, (enum ms_timed_op)p)->failed;
	}
	rc = rc == 0 && errors == 0 && v->lost == 0 && !atomic_load(&v->failed) ? 0 : 1;
	ms_big_destroy(g);
	free(v->events);
	free(v->steps);
	free(v);
	return rc;
}
