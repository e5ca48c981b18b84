/* SPDX-License-Identifier: MIT */
/* The control rings faulted in ahead of a connection; see rings.h. */
#include "rdma/rings.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>

#include <rmig/log.h>

#include "common/base/threadname.h"
#include "common/ram/populate.h"
#include "rdma/ctrl.h"

void *rmig_rdma_rings_map(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void rmig_rdma_rings_release(struct rmig_rdma_rings *r)
{
	if (r->recv)
		munmap(r->recv, RMIG_RDMA_RECV_RING_BYTES);
	if (r->send)
		munmap(r->send, RMIG_RDMA_SEND_RING_BYTES);
	r->recv = r->send = NULL;
}

int rmig_rdma_rings_prepare(struct rmig_rdma_rings *r)
{
	int ret;

	r->recv = rmig_rdma_rings_map(RMIG_RDMA_RECV_RING_BYTES);
	r->send = rmig_rdma_rings_map(RMIG_RDMA_SEND_RING_BYTES);
	if (!r->recv || !r->send) {
		ret = -ENOMEM;
		goto err_unmap;
	}
	/* One thread: both callers have other work going on meanwhile. */
	ret = rmig_mem_populate(r->recv, RMIG_RDMA_RECV_RING_BYTES, 1);
	if (ret == 0)
		ret = rmig_mem_populate(r->send, RMIG_RDMA_SEND_RING_BYTES, 1);
	if (ret < 0)
		goto err_unmap;
	return 0;

err_unmap:
	rmig_debug("rdma: control buffers not prepared ahead (%s); mapped at connect",
		   strerror(-ret));
	rmig_rdma_rings_release(r);
	return ret;
}

static void *job_run(void *opaque)
{
	struct rmig_rdma_rings_job *j = opaque;

	rmig_thread_name_self("rmig-rings");
	(void)rmig_rdma_rings_prepare(j->rings);
	return NULL;
}

void rmig_rdma_rings_job_start(struct rmig_rdma_rings_job *j, struct rmig_rdma_rings *r)
{
	sigset_t all, old;

	j->rings = r;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	j->started = pthread_create(&j->thread, NULL, job_run, j) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void rmig_rdma_rings_job_join(struct rmig_rdma_rings_job *j)
{
	if (!j || !j->started)
		return;
	pthread_join(j->thread, NULL);
	j->started = false;
}
