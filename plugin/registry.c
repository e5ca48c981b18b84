/* SPDX-License-Identifier: MIT */
/*
 * The transport registry: a small table of ops, and the wrappers that are
 * the only callers of the slots, so that the size and NULL checks for
 * optional slots exist in exactly one place (libfabric's FI_CHECK_OP idea).
 *
 * Locking: table_lock guards the table; init_lock serialises
 * rmig_transport_init_once() and rmig_transport_reset().  Order: init_lock
 * before table_lock.  Registered ops are never unregistered except by
 * reset, which the caller must not race with live connections.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rmig/log.h>

#include "common/base/util.h"
#include "plugin/registry.h"

#define SCHEME_MAX 15

struct entry {
	const struct rmig_transport_ops *ops;
	void *dl_handle; /* NULL for built-ins */
};

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry table[RMIG_TRANSPORT_MAX];
static unsigned table_len;

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static bool initialised;

static bool scheme_ok(const char *s)
{
	size_t n;

	if (!s || !(s[0] >= 'a' && s[0] <= 'z'))
		return false;
	for (n = 0; s[n]; n++) {
		char ch = s[n];

		if (n >= SCHEME_MAX)
			return false;
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '+' ||
		      ch == '-' || ch == '.'))
			return false;
	}
	return true;
}

#define CHECK_MANDATORY(ops, slot, why, whylen)                                                    \
	do {                                                                                       \
		if (!(ops)->slot) {                                                                \
			snprintf(why, whylen, "the mandatory slot '%s' is NULL", #slot);           \
			return -EINVAL;                                                            \
		}                                                                                  \
	} while (0)

int rmig_transport_check(const struct rmig_transport_ops *ops, char *why, size_t whylen)
{
	int hooks;

	if (!ops) {
		snprintf(why, whylen, "no ops table");
		return -EINVAL;
	}
	/* The version first: with another ABI even the size may mean something else. */
	if (ops->abi_version != RMIG_TRANSPORT_ABI_VERSION) {
		snprintf(why, whylen, "built for transport ABI %u, this rmig speaks %u",
			 ops->abi_version, RMIG_TRANSPORT_ABI_VERSION);
		return -EPROTO;
	}
	if (ops->size < RMIG_TRANSPORT_OPS_MIN_SIZE) {
		snprintf(why, whylen, "ops table of %u bytes, the minimum is %zu", ops->size,
			 (size_t)RMIG_TRANSPORT_OPS_MIN_SIZE);
		return -EPROTO;
	}
	if (!scheme_ok(ops->scheme)) {
		snprintf(why, whylen,
			 "invalid scheme '%s' (a lower-case letter, then letters, digits, '+', "
			 "'-' or '.', at most %d characters)",
			 ops->scheme ? ops->scheme : "(null)", SCHEME_MAX);
		return -EINVAL;
	}
	CHECK_MANDATORY(ops, connect, why, whylen);
	CHECK_MANDATORY(ops, listen, why, whylen);
	CHECK_MANDATORY(ops, accept, why, whylen);
	CHECK_MANDATORY(ops, listener_close, why, whylen);
	CHECK_MANDATORY(ops, write, why, whylen);
	CHECK_MANDATORY(ops, read, why, whylen);
	CHECK_MANDATORY(ops, abort, why, whylen);
	CHECK_MANDATORY(ops, close, why, whylen);
	hooks = RMIG_TRANSPORT_HAS(ops, ram_attach);
	hooks += RMIG_TRANSPORT_HAS(ops, ram_before_iterate);
	hooks += RMIG_TRANSPORT_HAS(ops, ram_save_page);
	hooks += RMIG_TRANSPORT_HAS(ops, ram_after_iterate);
	hooks += RMIG_TRANSPORT_HAS(ops, ram_load);
	if (hooks != 0 && hooks != 5) {
		snprintf(why, whylen, "%d of the 5 RAM hooks are set; it must be all or none",
			 hooks);
		return -EINVAL;
	}
	return 0;
}

/* Caller holds table_lock. */
static struct entry *find_locked(const char *scheme, size_t len)
{
	for (unsigned i = 0; i < table_len; i++) {
		const char *s = table[i].ops->scheme;

		if (strlen(s) == len && !memcmp(s, scheme, len))
			return &table[i];
	}
	return NULL;
}

int rmig_transport_add(const struct rmig_transport_ops *ops, void *dl_handle)
{
	int r = 0;

	pthread_mutex_lock(&table_lock);
	if (find_locked(ops->scheme, strlen(ops->scheme))) {
		r = -EEXIST;
		goto unlock;
	}
	if (table_len == RMIG_TRANSPORT_MAX) {
		rmig_error("cannot register transport '%s': already %d transports registered",
			   ops->scheme, RMIG_TRANSPORT_MAX);
		r = -ENOSPC;
		goto unlock;
	}
	table[table_len++] = (struct entry){ .ops = ops, .dl_handle = dl_handle };
unlock:
	pthread_mutex_unlock(&table_lock);
	return r;
}

int rmig_transport_register(const struct rmig_transport_ops *ops)
{
	char why[200];
	int r;

	r = rmig_transport_check(ops, why, sizeof(why));
	if (r < 0) {
		rmig_error("cannot register transport '%s': %s",
			   ops && r != -EPROTO && ops->scheme ? ops->scheme : "?", why);
		return r;
	}
	r = rmig_transport_add(ops, NULL);
	if (r == -EEXIST)
		rmig_error("cannot register transport '%s': the scheme is already registered",
			   ops->scheme);
	return r;
}

const struct rmig_transport_ops *rmig_transport_find(const char *scheme)
{
	const struct rmig_transport_ops *ops = NULL;
	struct entry *e;

	if (!scheme)
		return NULL;
	pthread_mutex_lock(&table_lock);
	e = find_locked(scheme, strlen(scheme));
	if (e)
		ops = e->ops;
	pthread_mutex_unlock(&table_lock);
	return ops;
}

const struct rmig_transport_ops *rmig_transport_get(unsigned i)
{
	const struct rmig_transport_ops *ops = NULL;

	pthread_mutex_lock(&table_lock);
	if (i < table_len)
		ops = table[i].ops;
	pthread_mutex_unlock(&table_lock);
	return ops;
}

void rmig_transport_reset(void)
{
	void *handles[RMIG_TRANSPORT_MAX];
	unsigned n = 0;

	pthread_mutex_lock(&init_lock);
	pthread_mutex_lock(&table_lock);
	for (unsigned i = 0; i < table_len; i++) {
		if (table[i].dl_handle)
			handles[n++] = table[i].dl_handle;
	}
	table_len = 0;
	pthread_mutex_unlock(&table_lock);
	/* Outside table_lock: a module's destructor may log, and logging must not deadlock. */
	for (unsigned i = 0; i < n; i++)
		dlclose(handles[i]);
	initialised = false;
	pthread_mutex_unlock(&init_lock);
}

int rmig_transport_init_once(int (*init)(void))
{
	int r = 0;

	pthread_mutex_lock(&init_lock);
	if (!initialised) {
		r = init();
		initialised = r == 0;
	}
	pthread_mutex_unlock(&init_lock);
	return r;
}

/* "tcp, unix, fd" for error messages. */
static void known_schemes(char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	pthread_mutex_lock(&table_lock);
	for (unsigned i = 0; i < table_len && used < len; i++) {
		int n = snprintf(buf + used, len - used, "%s%s", i ? ", " : "",
				 table[i].ops->scheme);

		if (n < 0)
			break;
		used += (size_t)n;
	}
	pthread_mutex_unlock(&table_lock);
	if (!buf[0])
		snprintf(buf, len, "none");
}

int rmig_transport_resolve(const char *uri, const struct rmig_transport_ops **ops,
			   const char **addr)
{
	const struct rmig_transport_ops *found = NULL;
	char known[RMIG_TRANSPORT_MAX * (SCHEME_MAX + 2) + 8];
	const char *colon;
	struct entry *e;

	colon = uri ? strchr(uri, ':') : NULL;
	if (!colon || colon == uri) {
		rmig_error("bad transport URI '%s': expected scheme:address, such as tcp:host:port",
			   uri ? uri : "");
		return -EINVAL;
	}
	pthread_mutex_lock(&table_lock);
	e = find_locked(uri, (size_t)(colon - uri));
	if (e)
		found = e->ops;
	pthread_mutex_unlock(&table_lock);
	if (!found) {
		known_schemes(known, sizeof(known));
		rmig_error("unknown transport '%.*s' in '%s'; known transports: %s",
			   (int)(colon - uri), uri, uri, known);
		return -EPROTONOSUPPORT;
	}
	*ops = found;
	*addr = colon + 1;
	return 0;
}

/*
 * The options as the current layout, whatever the caller built.  A size of 0
 * is taken as "the current layout": a zeroed struct whose size was forgotten
 * is a likelier caller than one from a release before the size field.
 */
static struct rmig_conn_opts full_opts(const struct rmig_conn_opts *opts)
{
	struct rmig_conn_opts o = { .size = sizeof(o) };

	if (opts) {
		memcpy(&o, opts, opts->size ? RMIG_MIN(opts->size, sizeof(o)) : sizeof(o));
		o.size = sizeof(o);
	}
	return o;
}

int rmig_conn_open(const char *uri, const struct rmig_conn_opts *opts, struct rmig_conn **out)
{
	const struct rmig_transport_ops *ops;
	struct rmig_conn_opts o = full_opts(opts);
	struct rmig_conn *c;
	const char *addr;
	int r;

	r = rmig_transport_resolve(uri, &ops, &addr);
	if (r < 0)
		return r;
	r = ops->connect(addr, &o, &c);
	if (r < 0)
		return r;
	c->ops = ops;
	*out = c;
	return 0;
}

int rmig_listener_open(const char *uri, const struct rmig_conn_opts *opts, struct rmig_listener **out)
{
	const struct rmig_transport_ops *ops;
	struct rmig_conn_opts o = full_opts(opts);
	struct rmig_listener *l;
	const char *addr;
	int r;

	r = rmig_transport_resolve(uri, &ops, &addr);
	if (r < 0)
		return r;
	r = ops->listen(addr, &o, &l);
	if (r < 0)
		return r;
	l->ops = ops;
	*out = l;
	return 0;
}

int rmig_listener_accept(struct rmig_listener *l, int timeout_ms, struct rmig_conn **out)
{
	struct rmig_conn *c;
	int r;

	r = l->ops->accept(l, timeout_ms, &c);
	if (r < 0)
		return r;
	c->ops = l->ops;
	*out = c;
	return 0;
}

void rmig_listener_close(struct rmig_listener *l)
{
	if (l)
		l->ops->listener_close(l);
}

int rmig_listener_get_uri(struct rmig_listener *l, char *buf, size_t len)
{
	if (!RMIG_TRANSPORT_HAS(l->ops, listener_uri)) {
		/* A capability answer, not a failure: callers fall back to the URI they used. */
		rmig_debug("transport '%s' cannot tell its listener address", l->ops->scheme);
		return -ENOTSUP;
	}
	return l->ops->listener_uri(l, buf, len);
}

ssize_t rmig_conn_write(struct rmig_conn *c, const void *buf, size_t len)
{
	return c->ops->write(c, buf, len);
}

ssize_t rmig_conn_writev(struct rmig_conn *c, const struct iovec *iov, int iovcnt)
{
	ssize_t total = 0, n;

	if (RMIG_TRANSPORT_HAS(c->ops, writev))
		return c->ops->writev(c, iov, iovcnt);
	/* Stop at the first short write: the result must describe a prefix of the vector. */
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len == 0)
			continue;
		n = c->ops->write(c, iov[i].iov_base, iov[i].iov_len);
		if (n < 0)
			return total ? total : n;
		total += n;
		if ((size_t)n < iov[i].iov_len)
			break;
	}
	return total;
}

ssize_t rmig_conn_read(struct rmig_conn *c, void *buf, size_t len)
{
	return c->ops->read(c, buf, len);
}

void rmig_conn_abort(struct rmig_conn *c)
{
	if (c)
		c->ops->abort(c);
}

void rmig_conn_close(struct rmig_conn *c)
{
	if (c)
		c->ops->close(c);
}

bool rmig_conn_has_ram_hooks(const struct rmig_conn *c)
{
	/* register() guarantees all-or-none, so one slot answers for all five. */
	return c && RMIG_TRANSPORT_HAS(c->ops, ram_attach);
}

static int no_hooks(const struct rmig_conn *c)
{
	rmig_error("transport '%s' does not place RAM pages itself (no RAM hooks)",
		   c->ops->scheme);
	return -ENOTSUP;
}

int rmig_conn_ram_attach(struct rmig_conn *c, struct rmig_ram *ram)
{
	if (!rmig_conn_has_ram_hooks(c))
		return no_hooks(c);
	return c->ops->ram_attach(c, ram);
}

int rmig_conn_ram_before_iterate(struct rmig_conn *c, enum rmig_ram_phase phase)
{
	if (!rmig_conn_has_ram_hooks(c))
		return no_hooks(c);
	return c->ops->ram_before_iterate(c, phase);
}

int rmig_conn_ram_save_page(struct rmig_conn *c, struct rmig_ramblock *b, uint64_t page,
			    uint64_t npages, struct rmig_ram_counters *acc)
{
	if (!rmig_conn_has_ram_hooks(c))
		return no_hooks(c);
	return c->ops->ram_save_page(c, b, page, npages, acc);
}

int rmig_conn_ram_after_iterate(struct rmig_conn *c, enum rmig_ram_phase phase,
				struct rmig_ram_counters *acc)
{
	if (!rmig_conn_has_ram_hooks(c))
		return no_hooks(c);
	return c->ops->ram_after_iterate(c, phase, acc);
}

int rmig_conn_ram_load(struct rmig_conn *c, enum rmig_ram_phase phase)
{
	if (!rmig_conn_has_ram_hooks(c))
		return no_hooks(c);
	return c->ops->ram_load(c, phase);
}

bool rmig_conn_interrupt(struct rmig_conn *c)
{
	if (!RMIG_TRANSPORT_HAS(c->ops, interrupt))
		return false;
	c->ops->interrupt(c);
	return true;
}

const char *rmig_conn_describe(struct rmig_conn *c, char *buf, size_t len)
{
	if (len == 0)
		return "";
	if (!RMIG_TRANSPORT_HAS(c->ops, describe) || c->ops->describe(c, buf, len) <= 0)
		snprintf(buf, len, "a peer");
	buf[len - 1] = '\0';
	return buf;
}

int rmig_conn_numa_node(struct rmig_conn *c)
{
	int node;

	if (!RMIG_TRANSPORT_HAS(c->ops, numa_node))
		return -1;
	node = c->ops->numa_node(c);
	return node >= 0 ? node : -1;
}

int rmig_conn_ram_stats(struct rmig_conn *c, struct rmig_transport_stats *st)
{
	if (!RMIG_TRANSPORT_HAS(c->ops, ram_stats))
		return -ENOTSUP;
	memset(st, 0, sizeof(*st));
	c->ops->ram_stats(c, st);
	return 0;
}

int rmig_conn_set_peer_timeout(struct rmig_conn *c, int timeout_ms)
{
	if (!RMIG_TRANSPORT_HAS(c->ops, set_peer_timeout))
		return -ENOTSUP;
	return c->ops->set_peer_timeout(c, timeout_ms);
}
