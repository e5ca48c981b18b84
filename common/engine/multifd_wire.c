/* SPDX-License-Identifier: MIT */
/*
 * multifd's wire rules that both ends share: the channel hello and which
 * channel owns a page (docs/stream-format.md, "Channels").
 */
#include <errno.h>
#include <string.h>

#include <rmig/log.h>
#include <rmig/params.h>

#include "common/base/util.h"
#include "common/engine/multifd.h"

_Static_assert(RMIG_MULTIFD_CHANNELS_MAX == RMIG_MULTIFD_CHANNELS_LIMIT,
	       "the wire and the parameter must agree on the most channels");
_Static_assert(RMIG_MULTIFD_CHANNELS_MAX <= 64, "rmig_stats and rmig_info hold 64 channels");
_Static_assert(RMIG_CHANNEL_HELLO_SIZE == 4 + 4 + 4 + 4 + RMIG_MULTIFD_SESSION_SIZE,
	       "channel hello layout and size disagree");

void rmig_channel_hello_encode(uint8_t out[RMIG_CHANNEL_HELLO_SIZE],
			       const struct rmig_channel_hello *hello)
{
	rmig_put_be32(out, RMIG_CHANNEL_MAGIC);
	rmig_put_be32(out + 4, RMIG_CHANNEL_VERSION);
	rmig_put_be32(out + 8, hello->index);
	rmig_put_be32(out + 12, hello->count);
	memcpy(out + 16, hello->session, RMIG_MULTIFD_SESSION_SIZE);
}

int rmig_channel_hello_decode(const uint8_t in[RMIG_CHANNEL_HELLO_SIZE],
			      const struct rmig_stream_header *h, struct rmig_channel_hello *out)
{
	uint32_t magic = rmig_get_be32(in), version = rmig_get_be32(in + 4);
	struct rmig_channel_hello hello = {
		.index = rmig_get_be32(in + 8),
		.count = rmig_get_be32(in + 12),
	};

	memcpy(hello.session, in + 16, sizeof(hello.session));
	if (magic != RMIG_CHANNEL_MAGIC) {
		rmig_error("not an rmig multifd channel: magic 0x%08x, expected 0x%08x (\"RMCH\")",
			   magic, RMIG_CHANNEL_MAGIC);
		return -EPROTO;
	}
	if (version != RMIG_CHANNEL_VERSION) {
		rmig_error("multifd channel speaks version %u, this rmig %u", version,
			   RMIG_CHANNEL_VERSION);
		return -EPROTO;
	}
	/* Not ours: a channel of another source, or of an earlier attempt. */
	if (memcmp(hello.session, h->session, sizeof(hello.session)) != 0) {
		rmig_error("multifd channel belongs to another migration (session differs)");
		return -EPROTO;
	}
	if (hello.count != h->channels || hello.index >= h->channels) {
		rmig_error("multifd channel says it is %u of %u, the stream announced %u channels",
			   hello.index, hello.count, h->channels);
		return -EPROTO;
	}
	*out = hello;
	return 0;
}

static uint32_t stripe_shift(const struct rmig_ramblock *b)
{
	return RMIG_MAX(b->page_shift, (uint32_t)RMIG_MULTIFD_STRIPE_SHIFT);
}

uint32_t rmig_multifd_owner(const struct rmig_ramblock *b, uint64_t offset, uint32_t channels)
{
	/* The block index staggers small blocks, which would otherwise all start on channel 0. */
	return (uint32_t)(((offset >> stripe_shift(b)) + b->index) % channels);
}

uint64_t rmig_multifd_stripe_left(const struct rmig_ramblock *b, uint64_t page)
{
	uint64_t per_stripe = 1ULL << (stripe_shift(b) - b->page_shift);

	return per_stripe - (page & (per_stripe - 1));
}
