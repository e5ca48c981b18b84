/* SPDX-License-Identifier: MIT */
/*
 * Assembles the transports of this build: the built-in list from
 * plugin/builtin.h, then modules from the plugin path.  It sits above both
 * the registry and the transports, so neither has to call the other.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rmig/log.h>

#include "common/base/util.h"
#include "common/engine/transports.h"
#include "plugin/builtin.h"
#include "plugin/loader.h"
#include "plugin/registry.h"
#include "rmig-config.h"

static int add_builtin(const struct rmig_transport_ops *ops)
{
	char why[200];
	int r;

	/* A NULL table means "not available here" (an rdma build on a host without devices). */
	if (!ops)
		return 0;
	r = rmig_transport_check(ops, why, sizeof(why));
	if (r < 0) {
		rmig_error("built-in transport '%s' is broken: %s", ops->scheme ? ops->scheme : "?",
			   why);
		return r;
	}
	r = rmig_transport_add(ops, NULL);
	/* Someone registered that scheme before us (a test double): theirs wins. */
	return r == -EEXIST ? 0 : r;
}

/* Load modules from every directory of a ':'-separated list; empty entries are skipped. */
static void load_dirs(const char *list)
{
	char *copy = strdup(list), *dir, *save = NULL;

	if (!copy) {
		rmig_error("out of memory reading the transport module path '%s'", list);
		return;
	}
	for (dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save))
		rmig_transport_load_dir(dir);
	free(copy);
}

static int init_all_locked(void)
{
	static const rmig_builtin_ops_fn builtins[] = RMIG_BUILTIN_TRANSPORTS;
	const char *dirs;
	int r;

	for (size_t i = 0; i < RMIG_ARRAY_SIZE(builtins); i++) {
		if (!builtins[i])
			continue;
		r = add_builtin(builtins[i]());
		if (r < 0)
			return r;
	}
	/* Set but empty means "no modules", which tests and sandboxes want. */
	/* Not from the environment of whoever runs a privileged embedder (setuid, capabilities). */
	dirs = secure_getenv("RMIG_PLUGIN_DIR");
	load_dirs(dirs ? dirs : RMIG_PLUGIN_DIR);
	return 0;
}

int rmig_transport_init_all(void)
{
	return rmig_transport_init_once(init_all_locked);
}
