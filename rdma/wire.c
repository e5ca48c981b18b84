/* SPDX-License-Identifier: MIT */
/*
 * Codecs for the RDMA migration wire protocol (see wire.h, docs/rdma.txt).
 * Byte offsets below are the protocol; they are spelled out instead of
 * memcpy'ing packed structs so that host order and padding can never leak
 * onto the wire.
 */
#include <errno.h>
#include <string.h>

#include <rmig/log.h>

#include "common/base/util.h"
#include "rdma/wire.h"

_Static_assert(RMIG_RDMA_HDR_SIZE == 4 * sizeof(uint32_t), "control header is 4 x u32");
_Static_assert(RMIG_RDMA_BLOCK_SIZE == 3 * 8 + 2 * 4, "RAM_BLOCKS_RESULT element");
_Static_assert(RMIG_RDMA_COMPRESS_SIZE == 2 * 4 + 2 * 8, "COMPRESS element");
_Static_assert(RMIG_RDMA_REGISTER_SIZE == 8 + 2 * 4 + 8, "REGISTER element");
_Static_assert(RMIG_RDMA_REGISTER_RESULT_SIZE == 2 * 4 + 8, "REGISTER_RESULT element");
_Static_assert(RMIG_RDMA_SEGMENT_SIZE == 2 * 4 + 2 * 8, "SEGMENTS_RESULT element");
_Static_assert(RMIG_RDMA_LANE_INFO_SIZE == 4 * 4, "CHANNELS element");
_Static_assert(RMIG_RDMA_MAX_REPEAT *RMIG_RDMA_COMPRESS_SIZE <= RMIG_RDMA_PAYLOAD_MAX,
	       "a full batch must fit one control message");
_Static_assert(RMIG_RDMA_MAX_REPEAT *RMIG_RDMA_SEGMENT_SIZE <= RMIG_RDMA_PAYLOAD_MAX,
	       "a full SEGMENTS_RESULT must fit one control message");
_Static_assert(((RMIG_RDMA_CAP_CREDITS | RMIG_RDMA_CAP_REG_BATCH | RMIG_RDMA_CAP_PIN_SEGMENTS |
		 RMIG_RDMA_CAP_KEEPALIVE | RMIG_RDMA_CAP_AUTH | RMIG_RDMA_CAP_CHANNELS) &
		0xffffu) == 0,
	       "rmig extensions must not reuse QEMU flag bits");
_Static_assert(RMIG_RDMA_MSG_SEGMENTS_REQUEST >= RMIG_RDMA_MSG__COUNT,
	       "extension types must not overlap the v1 ones");

static const char *const msg_names[RMIG_RDMA_MSG__COUNT] = {
    [RMIG_RDMA_MSG_NONE] = "NONE",
    [RMIG_RDMA_MSG_ERROR] = "ERROR",
    [RMIG_RDMA_MSG_READY] = "READY",
    [RMIG_RDMA_MSG_QEMU_FILE] = "QEMU FILE",
    [RMIG_RDMA_MSG_RAM_BLOCKS_REQUEST] = "RAM BLOCKS REQUEST",
    [RMIG_RDMA_MSG_RAM_BLOCKS_RESULT] = "RAM BLOCKS RESULT",
    [RMIG_RDMA_MSG_COMPRESS] = "COMPRESS",
    [RMIG_RDMA_MSG_REGISTER_REQUEST] = "REGISTER REQUEST",
    [RMIG_RDMA_MSG_REGISTER_RESULT] = "REGISTER RESULT",
    [RMIG_RDMA_MSG_REGISTER_FINISHED] = "REGISTER FINISHED",
    [RMIG_RDMA_MSG_UNREGISTER_REQUEST] = "UNREGISTER REQUEST",
    [RMIG_RDMA_MSG_UNREGISTER_FINISHED] = "UNREGISTER FINISHED",
};

const char *rmig_rdma_msg_name(uint32_t type)
{
	switch (type) {
	case RMIG_RDMA_MSG_SEGMENTS_REQUEST:
		return "SEGMENTS REQUEST";
	case RMIG_RDMA_MSG_SEGMENTS_RESULT:
		return "SEGMENTS RESULT";
	case RMIG_RDMA_MSG_KEEPALIVE:
		return "KEEPALIVE";
	case RMIG_RDMA_MSG_AUTH_CHALLENGE:
		return "AUTH CHALLENGE";
	case RMIG_RDMA_MSG_AUTH_RESPONSE:
		return "AUTH RESPONSE";
	case RMIG_RDMA_MSG_AUTH_PROOF:
		return "AUTH PROOF";
	case RMIG_RDMA_MSG_CHANNELS_REQUEST:
		return "CHANNELS REQUEST";
	case RMIG_RDMA_MSG_CHANNELS_RESULT:
		return "CHANNELS RESULT";
	default:
		return type < RMIG_RDMA_MSG__COUNT ? msg_names[type] : "unknown";
	}
}

/* --- capabilities --- */

void rmig_rdma_caps_encode(const struct rmig_rdma_caps *caps, uint8_t out[RMIG_RDMA_CAPS_SIZE])
{
	rmig_put_be32(out, caps->version);
	rmig_put_be32(out + 4, caps->flags);
}

int rmig_rdma_caps_decode(const void *buf, size_t len, struct rmig_rdma_caps *caps)
{
	const uint8_t *p = buf;

	if (!buf || len < RMIG_RDMA_CAPS_SIZE) {
		rmig_error("rdma: connection private data is %zu bytes, need %d (version, flags); "
			   "the peer is not speaking the RDMA migration protocol",
			   buf ? len : 0, RMIG_RDMA_CAPS_SIZE);
		return -EPROTO;
	}
	caps->version = rmig_get_be32(p);
	caps->flags = rmig_get_be32(p + 4);
	return 0;
}

static bool version_ok(uint32_t v)
{
	return v >= 1 && v <= RMIG_RDMA_VERSION;
}

/* Drop flags that mean nothing without another one. */
static uint32_t caps_consistent(uint32_t flags)
{
	if (!(flags & RMIG_RDMA_CAP_PIN_ALL))
		flags &= ~RMIG_RDMA_CAP_PIN_SEGMENTS;
	if (!(flags & RMIG_RDMA_CAP_PIN_SEGMENTS))
		flags &= ~RMIG_RDMA_CAP_PIN_STREAM;
	return flags;
}

int rmig_rdma_caps_negotiate(const struct rmig_rdma_caps *req, uint32_t supported,
			     struct rmig_rdma_caps *answer)
{
	if (!version_ok(req->version)) {
		rmig_error("rdma: source speaks RDMA protocol version %u, this side supports 1..%u",
			   req->version, RMIG_RDMA_VERSION);
		return -EPROTONOSUPPORT;
	}
	answer->version = req->version;
	answer->flags = caps_consistent(req->flags & supported & RMIG_RDMA_CAPS_KNOWN);
	return 0;
}

int rmig_rdma_caps_accept(uint32_t requested, const struct rmig_rdma_caps *answer,
			  uint32_t *effective)
{
	uint32_t eff;

	if (!version_ok(answer->version)) {
		rmig_error("rdma: destination answered with RDMA protocol version %u, "
			   "this side supports 1..%u",
			   answer->version, RMIG_RDMA_VERSION);
		return -EPROTONOSUPPORT;
	}
	eff = caps_consistent(requested & answer->flags & RMIG_RDMA_CAPS_KNOWN);
	if ((requested & RMIG_RDMA_CAP_PIN_ALL) && !(eff & RMIG_RDMA_CAP_PIN_ALL))
		rmig_warn("rdma: destination cannot pin all memory; registering memory "
			  "dynamically instead");
	*effective = eff;
	return 0;
}

/* --- header --- */

size_t rmig_rdma_msg_elem_size(uint32_t type)
{
	switch (type) {
	case RMIG_RDMA_MSG_RAM_BLOCKS_RESULT:
		return RMIG_RDMA_BLOCK_SIZE;
	case RMIG_RDMA_MSG_COMPRESS:
		return RMIG_RDMA_COMPRESS_SIZE;
	case RMIG_RDMA_MSG_REGISTER_REQUEST:
	case RMIG_RDMA_MSG_UNREGISTER_REQUEST:
		return RMIG_RDMA_REGISTER_SIZE;
	case RMIG_RDMA_MSG_REGISTER_RESULT:
		return RMIG_RDMA_REGISTER_RESULT_SIZE;
	case RMIG_RDMA_MSG_SEGMENTS_RESULT:
		return RMIG_RDMA_SEGMENT_SIZE;
	case RMIG_RDMA_MSG_CHANNELS_REQUEST:
	case RMIG_RDMA_MSG_CHANNELS_RESULT:
		return RMIG_RDMA_LANE_INFO_SIZE;
	default:
		return 0;
	}
}

void rmig_rdma_hdr_encode(const struct rmig_rdma_hdr *h, uint8_t out[RMIG_RDMA_HDR_SIZE])
{
	rmig_put_be32(out, h->len);
	rmig_put_be32(out + 4, h->type);
	rmig_put_be32(out + 8, h->repeat);
	rmig_put_be32(out + 12, 0);
}

/* Types whose repeat counts elements of a fixed size. */
static bool repeat_counts(uint32_t type)
{
	return type == RMIG_RDMA_MSG_COMPRESS || type == RMIG_RDMA_MSG_REGISTER_REQUEST ||
	       type == RMIG_RDMA_MSG_UNREGISTER_REQUEST || type == RMIG_RDMA_MSG_REGISTER_RESULT ||
	       type == RMIG_RDMA_MSG_SEGMENTS_RESULT || type == RMIG_RDMA_MSG_CHANNELS_REQUEST ||
	       type == RMIG_RDMA_MSG_CHANNELS_RESULT;
}

/* The capability flag an extension type needs, or 0 for a type that is not one. */
static uint32_t ext_type_cap(uint32_t type)
{
	switch (type) {
	case RMIG_RDMA_MSG_SEGMENTS_REQUEST:
	case RMIG_RDMA_MSG_SEGMENTS_RESULT:
		return RMIG_RDMA_CAP_PIN_SEGMENTS;
	case RMIG_RDMA_MSG_KEEPALIVE:
		return RMIG_RDMA_CAP_KEEPALIVE;
	case RMIG_RDMA_MSG_AUTH_CHALLENGE:
	case RMIG_RDMA_MSG_AUTH_RESPONSE:
	case RMIG_RDMA_MSG_AUTH_PROOF:
		return RMIG_RDMA_CAP_AUTH;
	case RMIG_RDMA_MSG_CHANNELS_REQUEST:
	case RMIG_RDMA_MSG_CHANNELS_RESULT:
		return RMIG_RDMA_CAP_CHANNELS;
	default:
		return 0;
	}
}

static int check_type(uint32_t type, uint32_t caps)
{
	uint32_t need = ext_type_cap(type);

	if (need && !(caps & need)) {
		rmig_error("rdma: control message of unknown type %u (%s is an rmig extension "
			   "this connection did not negotiate)",
			   type, rmig_rdma_msg_name(type));
		return -EPROTO;
	}
	if (!need && (type == RMIG_RDMA_MSG_NONE || type >= RMIG_RDMA_MSG__COUNT)) {
		rmig_error("rdma: control message of unknown type %u", type);
		return -EPROTO;
	}
	return 0;
}

static int check_shape(const struct rmig_rdma_hdr *h)
{
	const char *name = rmig_rdma_msg_name(h->type);
	size_t esz = rmig_rdma_msg_elem_size(h->type);

	switch (h->type) {
	case RMIG_RDMA_MSG_ERROR:
	case RMIG_RDMA_MSG_READY:
	case RMIG_RDMA_MSG_RAM_BLOCKS_REQUEST:
	case RMIG_RDMA_MSG_REGISTER_FINISHED:
	case RMIG_RDMA_MSG_UNREGISTER_FINISHED:
	case RMIG_RDMA_MSG_SEGMENTS_REQUEST:
	case RMIG_RDMA_MSG_KEEPALIVE:
		if (h->len != 0) {
			rmig_error("rdma: %s message carries %u payload bytes, expected none", name,
				   h->len);
			return -EPROTO;
		}
		return 0;
	case RMIG_RDMA_MSG_QEMU_FILE:
		return 0;
	case RMIG_RDMA_MSG_AUTH_CHALLENGE:
	case RMIG_RDMA_MSG_AUTH_RESPONSE:
	case RMIG_RDMA_MSG_AUTH_PROOF: {
		uint32_t want = h->type == RMIG_RDMA_MSG_AUTH_RESPONSE ? RMIG_RDMA_AUTH_RESPONSE_SIZE
				: h->type == RMIG_RDMA_MSG_AUTH_CHALLENGE  ? RMIG_RDMA_AUTH_CHALLENGE_SIZE
									    : RMIG_RDMA_AUTH_PROOF_SIZE;

		if (h->len != want) {
			rmig_error("rdma: %s message carries %u payload bytes, expected %u", name,
				   h->len, want);
			return -EPROTO;
		}
		return 0;
	}
	case RMIG_RDMA_MSG_RAM_BLOCKS_RESULT:
		if (h->len % esz != 0) {
			rmig_error("rdma: %s payload of %u bytes is not a whole number of "
				   "%zu-byte block descriptions",
				   name, h->len, esz);
			return -EPROTO;
		}
		return 0;
	default:
		break;
	}
	/* Element types. */
	if (h->repeat == 0 || h->repeat > RMIG_RDMA_MAX_REPEAT) {
		rmig_error("rdma: %s message claims %u elements, allowed 1..%d", name, h->repeat,
			   RMIG_RDMA_MAX_REPEAT);
		return -EPROTO;
	}
	if ((uint64_t)h->repeat * esz != h->len) {
		rmig_error("rdma: %s message has %u payload bytes for %u elements of %zu bytes",
			   name, h->len, h->repeat, esz);
		return -EPROTO;
	}
	return 0;
}

int rmig_rdma_hdr_decode_caps(const void *buf, size_t received, uint32_t caps,
			      struct rmig_rdma_hdr *h)
{
	const uint8_t *p = buf;
	struct rmig_rdma_hdr t;
	int ret;

	if (received < RMIG_RDMA_HDR_SIZE) {
		rmig_error("rdma: control message of %zu bytes is shorter than its %d-byte header",
			   received, RMIG_RDMA_HDR_SIZE);
		return -EPROTO;
	}
	t.len = rmig_get_be32(p);
	t.type = rmig_get_be32(p + 4);
	t.repeat = rmig_get_be32(p + 8);

	ret = check_type(t.type, caps);
	if (ret)
		return ret;
	if (t.len > RMIG_RDMA_PAYLOAD_MAX) {
		rmig_error("rdma: %s message claims %u payload bytes, the maximum is %d",
			   rmig_rdma_msg_name(t.type), t.len, RMIG_RDMA_PAYLOAD_MAX);
		return -EPROTO;
	}
	if ((size_t)t.len + RMIG_RDMA_HDR_SIZE != received) {
		rmig_error("rdma: %s message claims %u payload bytes but %zu arrived",
			   rmig_rdma_msg_name(t.type), t.len, received - RMIG_RDMA_HDR_SIZE);
		return -EPROTO;
	}
	ret = check_shape(&t);
	if (ret)
		return ret;
	*h = t;
	return 0;
}

int rmig_rdma_hdr_decode(const void *buf, size_t received, struct rmig_rdma_hdr *h)
{
	return rmig_rdma_hdr_decode_caps(buf, received, 0, h);
}

uint32_t rmig_rdma_hdr_count(const struct rmig_rdma_hdr *h)
{
	size_t esz = rmig_rdma_msg_elem_size(h->type);

	if (!esz)
		return 0;
	if (repeat_counts(h->type))
		return h->repeat;
	return (uint32_t)(h->len / esz);
}

int rmig_rdma_msg_build(uint32_t type, uint32_t repeat, const void *payload, uint32_t len,
			uint8_t *out, size_t cap)
{
	struct rmig_rdma_hdr h = {.len = len, .type = type, .repeat = repeat};
	size_t total = (size_t)len + RMIG_RDMA_HDR_SIZE;

	if (len > RMIG_RDMA_PAYLOAD_MAX || total > cap) {
		rmig_error("rdma: %s message of %u payload bytes does not fit (buffer %zu, "
			   "protocol maximum %d)",
			   rmig_rdma_msg_name(type), len, cap, RMIG_RDMA_PAYLOAD_MAX);
		return -EMSGSIZE;
	}
	rmig_rdma_hdr_encode(&h, out);
	if (len)
		memcpy(out + RMIG_RDMA_HDR_SIZE, payload, len);
	return (int)total;
}

/* --- elements --- */

void rmig_rdma_block_encode(const struct rmig_rdma_block *b, uint8_t *out)
{
	rmig_put_be64(out, b->remote_host_addr);
	rmig_put_be64(out + 8, b->offset);
	rmig_put_be64(out + 16, b->length);
	rmig_put_be32(out + 24, b->rkey);
	rmig_put_be32(out + 28, 0);
}

void rmig_rdma_block_decode(const uint8_t *in, struct rmig_rdma_block *b)
{
	b->remote_host_addr = rmig_get_be64(in);
	b->offset = rmig_get_be64(in + 8);
	b->length = rmig_get_be64(in + 16);
	b->rkey = rmig_get_be32(in + 24);
}

void rmig_rdma_compress_encode(const struct rmig_rdma_compress *c, uint8_t *out)
{
	rmig_put_be32(out, c->value);
	rmig_put_be32(out + 4, c->block_idx);
	rmig_put_be64(out + 8, c->offset);
	rmig_put_be64(out + 16, c->length);
}

void rmig_rdma_compress_decode(const uint8_t *in, struct rmig_rdma_compress *c)
{
	c->value = rmig_get_be32(in);
	c->block_idx = rmig_get_be32(in + 4);
	c->offset = rmig_get_be64(in + 8);
	c->length = rmig_get_be64(in + 16);
}

void rmig_rdma_register_encode(const struct rmig_rdma_register *r, uint8_t *out)
{
	rmig_put_be64(out, r->key);
	rmig_put_be32(out + 8, r->block_idx);
	rmig_put_be32(out + 12, 0);
	rmig_put_be64(out + 16, r->chunks);
}

void rmig_rdma_register_decode(const uint8_t *in, struct rmig_rdma_register *r)
{
	r->key = rmig_get_be64(in);
	r->block_idx = rmig_get_be32(in + 8);
	r->chunks = rmig_get_be64(in + 16);
}

void rmig_rdma_register_result_encode(const struct rmig_rdma_register_result *r, uint8_t *out)
{
	rmig_put_be32(out, r->rkey);
	rmig_put_be32(out + 4, 0);
	rmig_put_be64(out + 8, r->host_addr);
}

void rmig_rdma_register_result_decode(const uint8_t *in, struct rmig_rdma_register_result *r)
{
	r->rkey = rmig_get_be32(in);
	r->host_addr = rmig_get_be64(in + 8);
}

void rmig_rdma_segment_encode(const struct rmig_rdma_segment *s, uint8_t *out)
{
	rmig_put_be32(out, s->block_idx);
	rmig_put_be32(out + 4, s->rkey);
	rmig_put_be64(out + 8, s->start);
	rmig_put_be64(out + 16, s->length);
}

void rmig_rdma_segment_decode(const uint8_t *in, struct rmig_rdma_segment *s)
{
	s->block_idx = rmig_get_be32(in);
	s->rkey = rmig_get_be32(in + 4);
	s->start = rmig_get_be64(in + 8);
	s->length = rmig_get_be64(in + 16);
}

void rmig_rdma_lane_info_encode(const struct rmig_rdma_lane_info *l, uint8_t *out)
{
	rmig_put_be32(out, l->index);
	rmig_put_be32(out + 4, l->qpn);
	rmig_put_be32(out + 8, l->psn);
	rmig_put_be32(out + 12, 0);
}

void rmig_rdma_lane_info_decode(const uint8_t *in, struct rmig_rdma_lane_info *l)
{
	l->index = rmig_get_be32(in);
	l->qpn = rmig_get_be32(in + 4);
	l->psn = rmig_get_be32(in + 8);
}
