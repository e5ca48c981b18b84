/* SPDX-License-Identifier: MIT */
/*
 * The authentication exchange (see auth.h and authkey.h):
 *
 *   source                                destination
 *   AUTH_CHALLENGE  Ns              --->
 *                                   <---  AUTH_RESPONSE  Nd, proof(dest)
 *   checks proof(dest)
 *   AUTH_PROOF      proof(source)   --->
 *                                         checks proof(source)
 *
 * The source checks first, so it never proves anything to a destination
 * that could not prove the key itself.  A failed check sends ERROR and
 * ends the connection; the messages say which side's key was wrong as far
 * as that side can tell.
 */
#include "rdma/auth.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rmig/log.h>

#include "rdma/wire.h"

int rmig_rdma_auth_key_from_opts(const struct rmig_conn_opts *o, struct rmig_rdma_auth_key **k)
{
	int ret;

	*k = NULL;
	if (!o || o->size < offsetof(struct rmig_conn_opts, auth_key) + sizeof(o->auth_key) ||
	    !o->auth_key || !*o->auth_key)
		return 0;
	*k = malloc(sizeof(**k));
	if (!*k)
		return -ENOMEM;
	ret = rmig_rdma_auth_key_load(o->auth_key, *k);
	if (ret) {
		free(*k);
		*k = NULL;
		/* A missing or bad key file is the configuration's fault, not the network's. */
		ret = -EINVAL;
	}
	return ret;
}

void rmig_rdma_auth_key_free(struct rmig_rdma_auth_key *k)
{
	if (k) {
		rmig_rdma_auth_key_wipe(k);
		free(k);
	}
}

/* The next message, which must be @type; -EKEYREJECTED when the peer hung up or erred instead. */
static int auth_recv(struct rmig_rdma_conn *rc, uint32_t type, bool grant, const char *peer,
		     struct rmig_rdma_msg *m)
{
	char what[96];
	int ret;

	snprintf(what, sizeof(what), "waiting for the %s's authentication", peer);
	ret = rmig_rdma_ctrl_recv(&rc->ctrl, m, grant, what);
	if (ret == -ECONNRESET || ret == -ECONNABORTED) {
		rmig_error("rdma: the %s ended the connection during authentication: its "
			   "--auth-key differs, or it refused ours (see its log)",
			   peer);
		return -EKEYREJECTED;
	}
	if (ret < 0)
		return ret;
	if (m->hdr.type != type) {
		rmig_error("rdma: the %s sent %s where its authentication (%s) was due", peer,
			   rmig_rdma_msg_name(m->hdr.type), rmig_rdma_msg_name(type));
		rmig_rdma_ctrl_release(&rc->ctrl, m);
		return rmig_rdma_ctrl_give_up(&rc->ctrl, -EKEYREJECTED);
	}
	return 0;
}

int rmig_rdma_auth_source(struct rmig_rdma_conn *rc, const struct rmig_rdma_auth_key *k,
			  uint32_t caps)
{
	uint8_t ns[RMIG_RDMA_AUTH_NONCE], nd[RMIG_RDMA_AUTH_NONCE], mac[RMIG_RDMA_AUTH_MAC];
	struct rmig_rdma_msg m;
	bool proven;
	int ret;

	ret = rmig_rdma_auth_nonce(ns);
	if (!ret)
		ret = rmig_rdma_ctrl_send(&rc->ctrl, RMIG_RDMA_MSG_AUTH_CHALLENGE, 1, ns,
					  sizeof(ns), true);
	if (!ret)
		ret = auth_recv(rc, RMIG_RDMA_MSG_AUTH_RESPONSE, false, "destination", &m);
	if (ret)
		return ret;
	memcpy(nd, m.payload, sizeof(nd));
	proven = rmig_rdma_auth_check(k, true, caps, ns, nd, m.payload + RMIG_RDMA_AUTH_NONCE);
	ret = rmig_rdma_ctrl_release(&rc->ctrl, &m);
	if (ret)
		return ret;
	if (!proven) {
		rmig_error("rdma: the destination did not prove the key: its --auth-key differs; "
			   "no memory is exposed to it");
		return rmig_rdma_ctrl_give_up(&rc->ctrl, -EKEYREJECTED);
	}
	ret = rmig_rdma_auth_prove(k, false, caps, ns, nd, mac);
	if (!ret)
		ret = rmig_rdma_ctrl_send(&rc->ctrl, RMIG_RDMA_MSG_AUTH_PROOF, 1, mac, sizeof(mac),
					  true);
	if (!ret)
		rmig_info("rdma: the destination proved the key");
	return ret;
}

int rmig_rdma_auth_dest(struct rmig_rdma_conn *rc, const struct rmig_rdma_auth_key *k,
			uint32_t caps)
{
	uint8_t ns[RMIG_RDMA_AUTH_NONCE], resp[RMIG_RDMA_AUTH_NONCE + RMIG_RDMA_AUTH_MAC];
	struct rmig_rdma_msg m;
	bool proven;
	int ret;

	ret = auth_recv(rc, RMIG_RDMA_MSG_AUTH_CHALLENGE, true, "source", &m);
	if (ret)
		return ret;
	memcpy(ns, m.payload, sizeof(ns));
	ret = rmig_rdma_ctrl_release(&rc->ctrl, &m);
	if (!ret)
		ret = rmig_rdma_auth_nonce(resp);
	if (!ret)
		ret = rmig_rdma_auth_prove(k, true, caps, ns, resp, resp + RMIG_RDMA_AUTH_NONCE);
	if (!ret)
		ret = rmig_rdma_ctrl_send(&rc->ctrl, RMIG_RDMA_MSG_AUTH_RESPONSE, 1, resp,
					  sizeof(resp), false);
	if (!ret)
		ret = auth_recv(rc, RMIG_RDMA_MSG_AUTH_PROOF, true, "source", &m);
	if (ret)
		return ret;
	proven = rmig_rdma_auth_check(k, false, caps, ns, resp, m.payload);
	ret = rmig_rdma_ctrl_release(&rc->ctrl, &m);
	if (ret)
		return ret;
	if (!proven) {
		rmig_error("rdma: the source did not prove the key: its --auth-key differs");
		return rmig_rdma_ctrl_give_up(&rc->ctrl, -EKEYREJECTED);
	}
	rmig_info("rdma: the source proved the key");
	return 0;
}
