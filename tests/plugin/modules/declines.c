/* SPDX-License-Identifier: MIT */
/* A module that declines, as rdma does on a host without RDMA devices. */
#include <stddef.h>

#include <rmig/transport.h>

const struct rmig_transport_ops *rmig_transport_init(uint32_t abi_version);

const struct rmig_transport_ops *rmig_transport_init(uint32_t abi_version)
{
	(void)abi_version;
	return NULL;
}
