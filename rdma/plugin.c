/* SPDX-License-Identifier: MIT */
/*
 * The "rdma" transport: struct rmig_transport_ops over the pieces in this
 * directory (connections are opened in open.c).  Built as a loadable
 * module that exports only rmig_transport_init or, with
 * -Drdma_builtin=true, into librmig instead (plugin/builtin.h lists it
 * then).  The test knobs are listed in open.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rmig/log.h>

#include "common/base/util.h"
#include "plugin/builtin.h"
#include "rdma/conn.h"
#include "rdma/progress.h"

int rmig_rdma_conn_wait(void *opaque)
{
	struct rmig_rdma_conn *rc = opaque;

	return rmig_rdma_progress_wait(&rc->prog, "RDMA writes were in flight");
}

static ssize_t rdma_write(struct rmig_conn *c, const void *buf, size_t len)
{
	struct rmig_rdma_conn *rc = rmig_rdma_conn_of(c);
	const uint8_t *p = buf;
	size_t done = 0;

	while (done < len) {
		uint32_t n = (uint32_t)RMIG_MIN(len - done, (size_t)RMIG_RDMA_PAYLOAD_MAX);
		int ret = rmig_rdma_ctrl_send(&rc->ctrl, RMIG_RDMA_MSG_QEMU_FILE, 1, p + done, n,
					      true);

		if (ret < 0)
			return done ? (ssize_t)done : ret;
		done += n;
	}
	return (ssize_t)done;
}

static ssize_t rdma_read(struct rmig_conn *c, void *buf, size_t len)
{
	struct rmig_rdma_conn *rc = rmig_rdma_conn_of(c);

	while (!rc->rd_have) {
		int ret = rmig_rdma_ctrl_recv(&rc->ctrl, &rc->rd, true, "waiting for stream bytes");

		if (ret == -ECONNRESET)
			return 0; /* the peer hung up after its last message: end of stream */
		if (ret < 0)
			return ret;
		if (rc->rd.hdr.type != RMIG_RDMA_MSG_QEMU_FILE) {
			rmig_error("rdma: expected stream bytes, got %s from the peer",
				   rmig_rdma_msg_name(rc->rd.hdr.type));
			rmig_rdma_ctrl_release(&rc->ctrl, &rc->rd);
			return rmig_rdma_ctrl_give_up(&rc->ctrl, -EPROTO);
		}
		if (rc->rd.hdr.len == 0) {
			ret = rmig_rdma_ctrl_release(&rc->ctrl, &rc->rd);
			if (ret < 0)
				return ret;
			continue;
		}
		rc->rd_have = true;
		rc->rd_off = 0;
	}
	len = RMIG_MIN(len, (size_t)(rc->rd.hdr.len - rc->rd_off));
	memcpy(buf, rc->rd.payload + rc->rd_off, len);
	rc->rd_off += (uint32_t)len;
	if (rc->rd_off == rc->rd.hdr.len) {
		int ret;

		rc->rd_have = false;
		ret = rmig_rdma_ctrl_release(&rc->ctrl, &rc->rd);
		if (ret < 0 && ret != -ECONNRESET)
			return ret;
	}
	return (ssize_t)len;
}

/*
 * The engine lengthens the deadline while the peer checksums its RAM
 * without a word (outside any transport call, so without keepalives) and
 * puts it back after.  Called between waits, on the connection's thread.
 */
static int rdma_set_peer_timeout(struct rmig_conn *c, int timeout_ms)
{
	struct rmig_rdma_conn *rc = rmig_rdma_conn_of(c);

	rc->peer_timeout_ms = timeout_ms > 0 ? timeout_ms : 0;
	if (rc->keepalive)
		rmig_rdma_progress_set_deadline(&rc->prog, rc->peer_timeout_ms);
	return 0;
}

static void rdma_abort(struct rmig_conn *c)
{
	rmig_rdma_progress_abort(&rmig_rdma_conn_of(c)->prog);
}

static void rdma_interrupt(struct rmig_conn *c)
{
	rmig_rdma_progress_interrupt(&rmig_rdma_conn_of(c)->prog);
}

static void rdma_close(struct rmig_conn *c)
{
	rmig_rdma_conn_free(rmig_rdma_conn_of(c));
}

static int rdma_ram_attach(struct rmig_conn *c, struct rmig_ram *ram)
{
	struct rmig_rdma_conn *rc = rmig_rdma_conn_of(c);

	return rc->is_source ? rmig_rdma_source_attach(rc, ram) : rmig_rdma_dest_attach(rc, ram);
}

static int rdma_ram_before_iterate(struct rmig_conn *c, enum rmig_ram_phase phase)
{
	struct rmig_rdma_conn *rc = rmig_rdma_conn_of(c);

	if (!rc->is_source)
		return 0;
	return rmig_rdma_source_before(rc, phase);
}

static int rdma_ram_save_page(struct rmig_conn *c, struct rmig_ramblock *b, uint64_t page,
			      uint64_t npages, struct rmig_ram_counters *acc)
{
	struct rmig_rdma_conn *rc = rmig_rdma_conn_of(c);

	if (!rc->is_source)
		return RMIG_SAVE_PAGE_DECLINED;
	return rmig_rdma_source_save(rc, b, page, npages, acc);
}

static int rdma_ram_after_iterate(struct rmig_conn *c, enum rmig_ram_phase phase,
				  struct rmig_ram_counters *acc)
{
	struct rmig_rdma_conn *rc = rmig_rdma_conn_of(c);

	if (!rc->is_source)
		return 0;
	return rmig_rdma_source_after(rc, phase, acc);
}

static int rdma_ram_load(struct rmig_conn *c, enum rmig_ram_phase phase)
{
	struct rmig_rdma_conn *rc = rmig_rdma_conn_of(c);

	if (rc->is_source) {
		rmig_error("rdma: ram_load called on the source side");
		return -EINVAL;
	}
	return rmig_rdma_dest_load(rc, phase);
}

/* Between rounds, on the connection's thread: plain reads of its own counters. */
static void rdma_ram_stats(struct rmig_conn *c, struct rmig_transport_stats *st)
{
	struct rmig_rdma_conn *rc = rmig_rdma_conn_of(c);

	if (!rc->is_source) {
		st->pinned_peak = rc->dreg_ready ? rc->dreg.peak_bytes : 0;
		st->pinned_evicted = rc->dreg_ready ? rc->dreg.nunregistered : 0;
		st->pinned_overlap_ms = rc->dreg_ready ? rc->dreg.overlap_ns / 1000000 : 0;
	} else if (rc->pin_stream) {
		/* Regions are never unregistered under pin-all: so far is the peak. */
		st->pinned_peak = rc->local_stream_bytes;
	} else if (rc->pin_all) {
		st->pinned_peak = rc->ram ? rmig_ram_get_total_bytes(rc->ram) : 0;
	} else if (rc->kc) {
		st->pinned_peak = rc->pins.peak_bytes;
		st->pinned_limit = rc->pins.max_bytes;
		st->pinned_evicted = rc->pins.evicted_runs;
	}
	if (rc->is_source)
		st->pinned_overlap_ms = rc->local_reg_ns / 1000000;
	/*
	 * What each lane wrote is known on the source only: the destination
	 * sees no WRITE, and reports no channel figures rather than zeros.
	 */
	if (!rc->is_source)
		return;
	st->channels = rc->nlanes;
	for (uint32_t i = 0; i < rc->nlanes && i < 64; i++)
		st->channel_bytes[i] = rc->lanes[i].w.bytes_written;
}

static int rdma_numa_node(struct rmig_conn *c)
{
	struct rmig_rdma_conn *rc = rmig_rdma_conn_of(c);

	return rc->cm.id && rc->cm.id->verbs ? rmig_rdma_device_numa_node(rc->cm.id->verbs) : -1;
}

static const struct rmig_transport_ops rdma_ops = {
	.size = sizeof(struct rmig_transport_ops),
	.abi_version = RMIG_TRANSPORT_ABI_VERSION,
	.scheme = "rdma",
	.description = "RDMA (rdma_cm, RC QP), QEMU RDMA protocol v1 + extensions",
	.connect = rmig_rdma_op_connect,
	.listen = rmig_rdma_op_listen,
	.accept = rmig_rdma_op_accept,
	.listener_close = rmig_rdma_listener_close,
	.write = rdma_write,
	.read = rdma_read,
	.abort = rdma_abort,
	.close = rdma_close,
	.listener_uri = rmig_rdma_listener_uri,
	.ram_stats = rdma_ram_stats,
	.ram_attach = rdma_ram_attach,
	.ram_before_iterate = rdma_ram_before_iterate,
	.ram_save_page = rdma_ram_save_page,
	.ram_after_iterate = rdma_ram_after_iterate,
	.ram_load = rdma_ram_load,
	.set_peer_timeout = rdma_set_peer_timeout,
	.interrupt = rdma_interrupt,
	.numa_node = rdma_numa_node,
};

const struct rmig_transport_ops *rmig_rdma_get_ops(void)
{
	return &rdma_ops;
}

#if !RMIG_RDMA_BUILTIN
/* Module mode: the one symbol the module exports. */
RMIG_RDMA_INI
{
	if (abi_version != RMIG_TRANSPORT_ABI_VERSION)
		return NULL;
	return &rdma_ops;
}
#endif
