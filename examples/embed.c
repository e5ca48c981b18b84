/* SPDX-License-Identifier: MIT */
/*
 * embed: the smallest program that embeds librmig, on both ends of a
 * migration.  It uses <rmig/rmig.h> only; docs/embedding.md walks through it.
 *
 *   embed dest   URI [--ram MiB] [--timeout S] [--rate PAGES_PER_S] [--run-after S]
 *                    [--peer-timeout MS] [--in-doubt leave|discard]
 *   embed source URI [--ram MiB] [--timeout S] [--rate PAGES_PER_S]
 *
 * e.g.  embed dest tcp:127.0.0.1:4444 &  embed source tcp:127.0.0.1:4444
 * (the destination may listen on port 0 and prints the address it got).
 *
 * The "guest" is one RAM block that this program maps itself, and one
 * writer thread that keeps rewriting it while it migrates.  Write number n
 * (from 0) goes to page n % npages and stamps it with generation
 * n / npages + 1, over a first fill of generation 0.  Every page holds its
 * index, its generation and a pattern derived from both, so the destination
 * can check each page on its own and, since the writer sweeps in order,
 * tell how many writes the source made before it was stopped.
 *
 * Once the source commits the hand-over, the destination's start callback
 * starts the same writer on the received memory, from where the source's
 * stopped; it runs for --run-after seconds (default 1), then the
 * destination stops it and checks every page again.
 *
 * Exit codes: 0 completed (destination: and verified before and after its
 * run), 1 failed, 2 usage, 3 (destination) the hand-over is in doubt.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <rmig/rmig.h>

#define BLOCK_NAME "embed.ram"
#define PAGE_SIZE  4096u
#define WORDS	   (PAGE_SIZE / sizeof(uint64_t))
#define TICK_NS	   10000000ull /* the writer writes one batch per 10 ms tick */

enum { EXIT_IN_DOUBT = 3 }; /* destination: the hand-over is in doubt */

struct options {
	const char *uri, *peer_timeout; /* NULL: rmig's default */
	uint64_t ram_mib, rate, timeout_s, run_after_s;
	bool discard_in_doubt;
};

/* The guest: its memory, and one writer thread that stop() can park. */
struct guest {
	uint64_t *mem;
	uint64_t npages;
	struct rmig_ramblock *block;
	uint64_t rate; /* page writes per second */
	/* Destination: the source's writes, where the writer resumed; whether it runs. */
	uint64_t arrived;
	bool running;

	pthread_t thread;
	pthread_mutex_t lock; /* everything below */
	pthread_cond_t cond;  /* CLOCK_MONOTONIC: the writer's tick, stop, cont, quit */
	bool stop_req, parked, quit;
	unsigned throttle_pct;
	uint64_t writes; /* page writes made so far */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct timespec to_timespec(uint64_t ns)
{
	return (struct timespec){.tv_sec = (time_t)(ns / 1000000000ull),
				 .tv_nsec = (long)(ns % 1000000000ull)};
}

static void cond_init_monotonic(pthread_cond_t *cond)
{
	pthread_condattr_t attr;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(cond, &attr);
	pthread_condattr_destroy(&attr);
}

/* Word @i (from 2) of page @page at generation @gen. */
static uint64_t pattern(uint64_t page, uint64_t gen, uint64_t i)
{
	return (page * 0x9e3779b97f4a7c15ull) ^ (gen * 0xc2b2ae3d27d4eb4full) ^
	       (i * 0x165667b19e3779f9ull);
}

static void fill_page(uint64_t *p, uint64_t page, uint64_t gen)
{
	p[0] = page;
	p[1] = gen;
	for (uint64_t i = 2; i < WORDS; i++)
		p[i] = pattern(page, gen, i);
}

/* One guest write: store first, then report it, so a racing send is redone next round. */
static void guest_write(struct guest *g)
{
	uint64_t page = g->writes % g->npages, gen = g->writes / g->npages + 1;

	fill_page(g->mem + page * WORDS, page, gen);
	rmig_ram_mark_dirty(g->block, page * PAGE_SIZE, PAGE_SIZE);
	g->writes++;
}

static void *writer_main(void *opaque)
{
	struct guest *g = opaque;
	uint64_t batch = g->rate / (1000000000ull / TICK_NS), next = now_ns();

	if (batch == 0)
		batch = 1;
	pthread_mutex_lock(&g->lock);
	for (;;) {
		/* Park here, between writes, while stopped: stop() waits for this. */
		while (g->stop_req && !g->quit) {
			g->parked = true;
			pthread_cond_broadcast(&g->cond);
			pthread_cond_wait(&g->cond, &g->lock);
		}
		g->parked = false;
		if (g->quit)
			break;
		/* writes is ours; the lock only publishes it to whoever parks us. */
		pthread_mutex_unlock(&g->lock);
		for (uint64_t i = 0; i < batch; i++)
			guest_write(g);
		pthread_mutex_lock(&g->lock);

		/* Sleep out the tick (longer when throttled); stop and quit cut it short. */
		next += TICK_NS * 100 / (100 - g->throttle_pct);
		while (!g->stop_req && !g->quit && now_ns() < next) {
			struct timespec ts = to_timespec(next);

			pthread_cond_timedwait(&g->cond, &g->lock, &ts);
		}
		if (next < now_ns())
			next = now_ns();
	}
	g->parked = true; /* a late stop() must not wait for a writer that is gone */
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

/*
 * The embedder callbacks.  rmig calls them on its migration thread: stop
 * before the final round (and must not return while a write may still
 * happen), cont if the migration fails or is cancelled after stop,
 * throttle when auto-converge decides the guest dirties memory too fast.
 */
static void guest_stop(void *opaque)
{
	struct guest *g = opaque;

	pthread_mutex_lock(&g->lock);
	g->stop_req = true;
	pthread_cond_broadcast(&g->cond);
	while (!g->parked)
		pthread_cond_wait(&g->cond, &g->lock);
	pthread_mutex_unlock(&g->lock);
}

static void guest_cont(void *opaque)
{
	struct guest *g = opaque;

	pthread_mutex_lock(&g->lock);
	g->stop_req = false;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

static void guest_throttle(void *opaque, unsigned pct)
{
	struct guest *g = opaque;

	pthread_mutex_lock(&g->lock);
	g->throttle_pct = pct < 100 ? pct : 99;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

static int guest_start(struct guest *g)
{
	int r;

	pthread_mutex_init(&g->lock, NULL);
	cond_init_monotonic(&g->cond);
	r = pthread_create(&g->thread, NULL, writer_main, g);
	if (r) {
		fprintf(stderr, "embed: cannot start the writer: %s\n", strerror(r));
		pthread_cond_destroy(&g->cond);
		pthread_mutex_destroy(&g->lock);
		return -1;
	}
	return 0;
}

/* Ends the writer, stopped or not; returns how many writes it made. */
static uint64_t guest_quit(struct guest *g)
{
	pthread_mutex_lock(&g->lock);
	g->quit = true;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
	pthread_join(g->thread, NULL);
	pthread_cond_destroy(&g->cond);
	pthread_mutex_destroy(&g->lock);
	return g->writes;
}

/* A state listener: runs on whichever thread made the transition, so it only prints. */
static char source_name[] = "source", dest_name[] = "dest";

static void print_transition(void *opaque, enum rmig_state from, enum rmig_state to,
			     uint64_t when_ns)
{
	(void)when_ns;
	printf("%s: %s -> %s\n", (const char *)opaque, rmig_state_get_name(from), rmig_state_get_name(to));
}

/* rmig_info_to_json() returns the length it needs, as snprintf() does. */
static void print_json(const char *side, const struct rmig_info *info)
{
	int n = rmig_info_to_json(info, NULL, 0);
	char *json = n < 0 ? NULL : malloc((size_t)n + 1);

	if (json && rmig_info_to_json(info, json, (size_t)n + 1) == n)
		printf("%s: query-migrate %s\n", side, json);
	else
		fprintf(stderr, "%s: cannot format the query-migrate report\n", side);
	free(json);
}

static int run_source(const struct options *o, struct guest *g, struct rmig_ram *ram)
{
	const struct rmig_embedder emb = {
	    .opaque = g,
	    .stop = guest_stop,
	    .cont = guest_cont,
	    .throttle = guest_throttle,
	};
	uint64_t deadline = now_ns() + o->timeout_s * 1000000000ull, last_print = now_ns();
	struct rmig_migration *m;
	struct rmig_info info;
	enum rmig_state state;
	bool cancelled = false;

	m = rmig_migration_new(ram, &emb);
	if (!m) {
		/* NULL with nothing reported means calloc() failed. */
		fprintf(stderr, "source: rmig_migration_new: %s\n",
			*rmig_error_get_last() ? rmig_error_get_last() : "out of memory");
		return -1;
	}
	/*
	 * QEMU's names and defaults: verify and zero-pages are on, auto-converge
	 * is not; turn it on so rmig may throttle a writer that outruns the link.
	 * 300 ms is the default downtime limit, set here only to show the call.
	 */
	if (rmig_migration_set_capability(m, RMIG_CAP_AUTO_CONVERGE, true) < 0 ||
	    rmig_migration_set_param(m, "downtime-limit", "300") < 0 ||
	    rmig_migration_add_listener(m, print_transition, source_name) < 0 ||
	    rmig_migration_start(m, o->uri) < 0) {
		fprintf(stderr, "source: cannot start the migration: %s\n", rmig_error_get_last());
		rmig_migration_free(m);
		return -1;
	}

	/* Poll query-migrate until the migration ends; cancel it at the deadline. */
	for (;;) {
		rmig_migration_query(m, &info);
		if (rmig_state_is_terminal(info.status))
			break;
		if (now_ns() - last_print >= 500000000ull) {
			printf("source: %-10s %6.1f of %.1f MiB sent, %.1f MiB to go, %.0f Mbit/s, "
			       "%" PRIu64 " dirty syncs\n",
			       rmig_state_get_name(info.status),
			       (double)info.ram.transferred / 1048576.0,
			       (double)info.ram.total / 1048576.0,
			       (double)info.ram.remaining / 1048576.0, info.ram.mbps,
			       info.ram.dirty_sync_count);
			last_print = now_ns();
		}
		if (now_ns() >= deadline) {
			if (cancelled) {
				/* Cancel is prompt: a thread that ignores it is a bug. */
				fprintf(stderr, "source: the migration did not end after cancel\n");
				exit(EXIT_FAILURE);
			}
			fprintf(stderr, "source: no result after %" PRIu64 " s, cancelling\n",
				o->timeout_s);
			rmig_migration_cancel(m);
			cancelled = true;
			deadline = now_ns() + 10 * 1000000000ull;
		}
		nanosleep(&(struct timespec){.tv_nsec = 50000000}, NULL);
	}
	state = rmig_migration_wait(m); /* the thread has finished or is about to: join it */

	rmig_migration_query(m, &info);
	print_json("source", &info);
	if (state == RMIG_STATE_FAILED)
		fprintf(stderr, "source: migration failed: %s (%s)\n", info.error_desc,
			strerror(-rmig_migration_get_error(m)));
	/* Completed is the commit point: the destination starts the workload on our COMMIT. */
	if (state == RMIG_STATE_COMPLETED)
		printf("source: hand-over committed: the workload is the destination's now, "
		       "it stays stopped here\n");
	else
		printf("source: no hand-over (%s): the workload stays here\n",
		       rmig_state_get_name(state));
	rmig_migration_free(m);
	return state == RMIG_STATE_COMPLETED ? 0 : -1;
}

/* The destination's deadline: a thread that cancels the load when time is up. */
struct watchdog {
	struct rmig_incoming *in;
	uint64_t deadline;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* CLOCK_MONOTONIC */
	bool done, fired;
};

static void *watchdog_main(void *opaque)
{
	struct watchdog *w = opaque;
	struct timespec ts = to_timespec(w->deadline);

	pthread_mutex_lock(&w->lock);
	while (!w->done && now_ns() < w->deadline)
		pthread_cond_timedwait(&w->cond, &w->lock, &ts);
	w->fired = !w->done;
	pthread_mutex_unlock(&w->lock);
	if (w->fired)
		rmig_incoming_cancel(w->in); /* any thread: run() returns -ECANCELED */
	return NULL;
}

/*
 * Each page must be whole (its own index, one generation throughout), and
 * the generations must be what an in-order sweep leaves: g+1 up to some
 * page k, g from k on.  Returns the number of writes that implies.
 */
static int verify(const struct guest *g, uint64_t *writes)
{
	uint64_t top = g->mem[1], step = g->npages; /* page 0's generation; k */

	for (uint64_t page = 0; page < g->npages; page++) {
		const uint64_t *p = g->mem + page * WORDS;
		uint64_t gen = p[1];

		if (p[0] != page) {
			fprintf(stderr, "dest: page %" PRIu64 " holds page %" PRIu64 "\n", page,
				p[0]);
			return -1;
		}
		for (uint64_t i = 2; i < WORDS; i++) {
			if (p[i] != pattern(page, gen, i)) {
				fprintf(stderr,
					"dest: page %" PRIu64 " is torn at byte %" PRIu64 "\n",
					page, i * 8);
				return -1;
			}
		}
		if (step == g->npages && top > 0 && gen == top - 1)
			step = page; /* where the writer's last sweep stopped */
		if (gen != (page < step ? top : top - 1)) {
			fprintf(stderr,
				"dest: page %" PRIu64 " has generation %" PRIu64
				", out of sweep order (page 0 has %" PRIu64 "): a write was lost\n",
				page, gen, top);
			return -1;
		}
	}
	if (step == g->npages) /* all at one generation: that many whole sweeps */
		*writes = top * g->npages;
	else /* top - 1 whole sweeps, then pages 0 .. step-1 once more */
		*writes = (top - 1) * g->npages + step;
	return 0;
}

/*
 * The start callback: rmig calls it once, on the thread in
 * rmig_incoming_run() (or rmig_incoming_resolve()), after the source has
 * committed the hand-over.  The workload is ours now: find where the
 * source's writer stopped, and start the same writer from there.
 */
static void dest_start(void *opaque)
{
	struct guest *g = opaque;

	if (verify(g, &g->arrived) < 0)
		return; /* not running: run_dest() fails */
	printf("dest: memory verified: %" PRIu64 " pages consistent, %" PRIu64
	       " page writes by the source\n",
	       g->npages, g->arrived);
	g->writes = g->arrived; /* before the writer exists: from then on it is the writer's */
	g->running = guest_start(g) == 0;
	if (g->running)
		printf("dest: started the workload: the writer continues at page %" PRIu64
		       ", generation %" PRIu64 "\n",
		       g->arrived % g->npages, g->arrived / g->npages + 1);
}

/* Let the workload run here for a while, stop it, and check the memory again. */
static int dest_run_workload(const struct options *o, struct guest *g)
{
	uint64_t writes;

	nanosleep(&(struct timespec){.tv_sec = (time_t)o->run_after_s}, NULL);
	guest_quit(g); /* joined: every write is stored and visible */
	g->running = false;
	if (verify(g, &writes) < 0)
		return 1;
	if (writes != g->writes) {
		fprintf(stderr, "dest: the memory shows %" PRIu64 " page writes, not %" PRIu64 "\n",
			writes, g->writes);
		return 1;
	}
	printf("dest: stopped the workload after %" PRIu64 " s: %" PRIu64
	       " page writes here (%" PRIu64 " in all), %" PRIu64 " pages still consistent\n",
	       o->run_after_s, g->writes - g->arrived, g->writes, g->npages);
	return 0;
}

/*
 * run() returned -EINPROGRESS: only the source knows whether it completed.
 * This example cannot ask it, so it resolves only when told to: as discard.
 */
static int dest_in_doubt(const struct options *o, struct rmig_incoming *in, struct rmig_info *info)
{
	fprintf(stderr, "dest: state %s: %s\n", rmig_state_get_name(info->status),
		info->error_desc);
	fprintf(stderr, "dest: an embedder asks the source now: completed means "
			"rmig_incoming_resolve(in, true), which runs the start callback here; "
			"anything else means rmig_incoming_resolve(in, false)\n");
	if (!o->discard_in_doubt) {
		fprintf(stderr, "dest: this example cannot ask the source: left in doubt "
				"(--in-doubt discard would discard)\n");
		return EXIT_IN_DOUBT;
	}
	if (rmig_incoming_resolve(in, false) < 0)
		fprintf(stderr, "dest: rmig_incoming_resolve: %s\n", rmig_error_get_last());
	rmig_incoming_query(in, info);
	fprintf(stderr,
		"dest: resolved as --in-doubt discard asked (right only if the source "
		"did not complete): state %s\n",
		rmig_state_get_name(info->status));
	return EXIT_IN_DOUBT;
}

static int run_dest(const struct options *o, struct guest *g, struct rmig_ram *ram)
{
	struct watchdog w = {.deadline = now_ns() + o->timeout_s * 1000000000ull};
	struct rmig_incoming *in;
	struct rmig_info info;
	pthread_t thread;
	char uri[256];
	int ret = 1, r; /* the exit code; run()'s result */

	in = rmig_incoming_new(ram);
	if (!in) {
		fprintf(stderr, "dest: rmig_incoming_new: %s\n",
			*rmig_error_get_last() ? rmig_error_get_last() : "out of memory");
		return 1;
	}
	/* Where the workload starts here, and how long to wait for the source's commit. */
	rmig_incoming_set_start(in, dest_start, g);
	if (o->peer_timeout && rmig_incoming_set_param(in, "peer-timeout", o->peer_timeout) < 0) {
		fprintf(stderr, "dest: %s\n", rmig_error_get_last());
		goto out_free;
	}
	if (rmig_incoming_add_listener(in, print_transition, dest_name) < 0 ||
	    rmig_incoming_listen(in, o->uri) < 0) {
		fprintf(stderr, "dest: cannot listen on %s: %s\n", o->uri, rmig_error_get_last());
		goto out_free;
	}
	/* The address actually bound (port 0 picks one), if the transport can tell. */
	if (rmig_incoming_get_uri(in, uri, sizeof(uri)) < 0)
		snprintf(uri, sizeof(uri), "%s", o->uri);
	printf("dest: listening on %s\n", uri);

	w.in = in;
	pthread_mutex_init(&w.lock, NULL);
	cond_init_monotonic(&w.cond);
	r = pthread_create(&thread, NULL, watchdog_main, &w);
	if (r == 0) {
		/* Blocks: accepts one source, loads it, and calls dest_start() once it commits. */
		r = rmig_incoming_run(in, (int)(o->timeout_s * 1000));
		if (r < 0 && r != -EINPROGRESS)
			fprintf(stderr, "dest: migration failed: %s\n",
				*rmig_error_get_last() ? rmig_error_get_last() : strerror(-r));
		pthread_mutex_lock(&w.lock);
		w.done = true;
		pthread_cond_signal(&w.cond);
		pthread_mutex_unlock(&w.lock);
		pthread_join(thread, NULL);
		if (w.fired)
			fprintf(stderr, "dest: no result after %" PRIu64 " s, cancelled\n",
				o->timeout_s);
	} else {
		fprintf(stderr, "dest: cannot start the watchdog: %s\n", strerror(r));
		r = -r;
	}
	pthread_cond_destroy(&w.cond);
	pthread_mutex_destroy(&w.lock);

	rmig_incoming_query(in, &info);
	print_json("dest", &info);
	if (r == -EINPROGRESS)
		ret = dest_in_doubt(o, in, &info);
	else if (r == 0 && g->running)
		ret = dest_run_workload(o, g);
	else if (r == 0)
		fprintf(stderr, "dest: completed, but the workload did not start\n");
out_free:
	rmig_incoming_free(in);
	return ret;
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno || end == s || *end || *s == '-' ? -1 : 0;
}

static int parse_options(int argc, char **argv, struct options *o)
{
	*o = (struct options){.ram_mib = 64, .rate = 2000, .timeout_s = 60, .run_after_s = 1};
	if (argc < 3)
		return -1;
	o->uri = argv[2];
	for (int i = 3; i < argc; i += 2) {
		uint64_t *v = NULL;

		if (i + 1 >= argc)
			return -1;
		if (!strcmp(argv[i], "--peer-timeout")) {
			o->peer_timeout = argv[i + 1]; /* rmig checks it */
			continue;
		}
		if (!strcmp(argv[i], "--in-doubt")) {
			o->discard_in_doubt = !strcmp(argv[i + 1], "discard");
			if (!o->discard_in_doubt && strcmp(argv[i + 1], "leave"))
				return -1;
			continue;
		}
		if (!strcmp(argv[i], "--ram"))
			v = &o->ram_mib;
		else if (!strcmp(argv[i], "--rate"))
			v = &o->rate;
		else if (!strcmp(argv[i], "--timeout"))
			v = &o->timeout_s;
		else if (!strcmp(argv[i], "--run-after"))
			v = &o->run_after_s;
		if (!v || parse_u64(argv[i + 1], v) < 0)
			return -1;
	}
	if (o->ram_mib == 0 || o->ram_mib > (1u << 20) || o->rate == 0 || o->timeout_s == 0 ||
	    o->timeout_s > 86400 || o->run_after_s > 3600)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	struct guest g = {0};
	bool source = argc > 1 && !strcmp(argv[1], "source");
	struct rmig_ram *ram = NULL;
	struct options o;
	uint64_t writes;
	size_t length;
	int code = 1; /* the exit code */

	if ((!source && (argc < 2 || strcmp(argv[1], "dest"))) || parse_options(argc, argv, &o)) {
		fprintf(stderr, "usage: embed source|dest URI [--ram MiB] [--rate PAGES_PER_S] "
				"[--timeout S]\n"
				"  dest only: [--run-after S] [--peer-timeout MS] "
				"[--in-doubt leave|discard]\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0); /* progress lines appear as they happen */

	/* The guest's RAM is ours: map it, and (source) give it its first contents. */
	length = (size_t)o.ram_mib << 20;
	g.npages = length / PAGE_SIZE;
	g.rate = o.rate;
	g.mem = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g.mem == MAP_FAILED) {
		fprintf(stderr, "embed: cannot map %" PRIu64 " MiB: %s\n", o.ram_mib,
			strerror(errno));
		return 1;
	}
	if (source)
		for (uint64_t page = 0; page < g.npages; page++)
			fill_page(g.mem + page * WORDS, page, 0);

	/* Tell rmig about it: one block, the same name and size on both ends. */
	ram = rmig_ram_new();
	if (!ram) {
		fprintf(stderr, "embed: out of memory\n");
		goto out_unmap;
	}
	if (rmig_ram_add(ram, BLOCK_NAME, g.mem, length, PAGE_SIZE, &g.block) < 0) {
		fprintf(stderr, "embed: rmig_ram_add: %s\n", rmig_error_get_last());
		goto out_free_ram;
	}

	/* Destination: the start callback starts the writer, and run_dest() ends it. */
	if (!source) {
		code = run_dest(&o, &g, ram);
		goto out_free_ram;
	}

	/* Source: the writer runs from before the migration until after it. */
	if (guest_start(&g) == 0) {
		code = run_source(&o, &g, ram) == 0 ? 0 : 1;
		writes = guest_quit(&g);
		/* Completed: the writer was stopped, as a VM stays stopped after migrating. */
		if (code == 0)
			printf("source: completed, writer made %" PRIu64 " page writes\n", writes);
	}

out_free_ram:
	rmig_ram_free(ram); /* after the writer is gone: it marked pages in the block */
out_unmap:
	munmap(g.mem, length);
	return code;
}
