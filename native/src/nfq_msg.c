#include "nfq_msg.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <string.h>
#include <sys/socket.h>

static struct nlmsghdr* put_header(void* buf, uint16_t type, uint16_t flags, uint32_t seq, uint16_t queue) {
  struct nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = (NFNL_SUBSYS_QUEUE << 8) | type;
  nlh->nlmsg_flags = NLM_F_REQUEST | flags;
  nlh->nlmsg_seq = seq;
  struct nfgenmsg* nfg = mnl_nlmsg_put_extra_header(nlh, sizeof *nfg);
  nfg->nfgen_family = AF_UNSPEC;
  nfg->version = NFNETLINK_V0;
  nfg->res_id = htons(queue);
  return nlh;
}

size_t nfq_put_bind(void* buf, uint32_t seq, uint16_t queue, uint8_t command) {
  struct nlmsghdr* nlh = put_header(buf, NFQNL_MSG_CONFIG, NLM_F_ACK, seq, queue);
  struct nfqnl_msg_config_cmd cmd = {.command = command, .pf = 0};
  mnl_attr_put(nlh, NFQA_CFG_CMD, sizeof cmd, &cmd);
  return nlh->nlmsg_len;
}

size_t nfq_put_params(void* buf, uint32_t seq, uint16_t queue, uint32_t copy_range, uint32_t maxlen, uint32_t flags) {
  struct nlmsghdr* nlh = put_header(buf, NFQNL_MSG_CONFIG, NLM_F_ACK, seq, queue);
  struct nfqnl_msg_config_params params = {.copy_range = htonl(copy_range), .copy_mode = NFQNL_COPY_PACKET};
  mnl_attr_put(nlh, NFQA_CFG_PARAMS, sizeof params, &params);
  mnl_attr_put_u32(nlh, NFQA_CFG_QUEUE_MAXLEN, htonl(maxlen));
  // The mask covers both flags so each is set or cleared explicitly.
  mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_GSO));
  mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(flags));
  return nlh->nlmsg_len;
}

size_t nfq_put_verdict(void* buf, uint16_t queue, uint32_t id, uint32_t verdict, uint32_t mark, int batch) {
  struct nlmsghdr* nlh = put_header(buf, batch ? NFQNL_MSG_VERDICT_BATCH : NFQNL_MSG_VERDICT, 0, 0, queue);
  struct nfqnl_msg_verdict_hdr vh = {.verdict = htonl(verdict), .id = htonl(id)};
  mnl_attr_put(nlh, NFQA_VERDICT_HDR, sizeof vh, &vh);
  if (mark != NFQ_NO_MARK) mnl_attr_put_u32(nlh, NFQA_MARK, htonl(mark));
  return nlh->nlmsg_len;
}

static uint32_t attr_u32(const struct nlattr* a) {
  return mnl_attr_get_payload_len(a) >= 4 ? ntohl(mnl_attr_get_u32(a)) : 0;
}

int nfq_classify(const struct nlmsghdr* nlh, nfq_packet* pkt, int* ok, int* err, uint32_t* seq) {
  if (nlh->nlmsg_type == NLMSG_ERROR) {
    const struct nlmsgerr* e = mnl_nlmsg_get_payload(nlh);
    if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof *e)) return NFQ_MSG_OTHER;
    *err = -e->error;
    *seq = e->msg.nlmsg_seq;
    return NFQ_MSG_ERROR;
  }
  if (nlh->nlmsg_type != ((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET)) return NFQ_MSG_OTHER;
  memset(pkt, 0, sizeof *pkt);
  *ok = 0;
  if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(struct nfgenmsg))) return NFQ_MSG_PACKET;
  int have_hdr = 0, have_caplen = 0;
  const struct nlattr* a;
  mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg)) {
    switch (mnl_attr_get_type(a)) {
      case NFQA_PACKET_HDR:
        if (mnl_attr_get_payload_len(a) >= sizeof(struct nfqnl_msg_packet_hdr)) {
          const struct nfqnl_msg_packet_hdr* ph = mnl_attr_get_payload(a);
          pkt->id = ntohl(ph->packet_id);
          pkt->hw_protocol = ntohs(ph->hw_protocol);
          pkt->hook = ph->hook;
          have_hdr = 1;
        }
        break;
      case NFQA_MARK: pkt->mark = attr_u32(a); break;
      case NFQA_IFINDEX_INDEV: pkt->indev = attr_u32(a); break;
      case NFQA_IFINDEX_OUTDEV: pkt->outdev = attr_u32(a); break;
      case NFQA_IFINDEX_PHYSINDEV: pkt->physindev = attr_u32(a); break;
      case NFQA_IFINDEX_PHYSOUTDEV: pkt->physoutdev = attr_u32(a); break;
      case NFQA_CAP_LEN: pkt->wirelen = attr_u32(a); have_caplen = 1; break;
      case NFQA_PAYLOAD:
        pkt->payload = mnl_attr_get_payload(a);
        pkt->caplen = mnl_attr_get_payload_len(a);
        break;
      default: break;
    }
  }
  // NFQA_CAP_LEN is only sent when the copy was cut short.
  if (!have_caplen) pkt->wirelen = pkt->caplen;
  *ok = have_hdr;
  return NFQ_MSG_PACKET;
}
