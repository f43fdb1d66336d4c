/*
 * lz4frame.c — snapshots as LZ4 frames, compressed while they are packed
 * (see lz4frame.h).
 *
 * The packer's small writes gather in a buffer of one LZ4 block (64 KiB,
 * the frame's default block size, as raft's own frames have it); each full
 * buffer is compressed onto the output, which grows by half its size when
 * the next block might not fit (it starts at the caller's hint: the last
 * frame's size).  Blocks are independent, each with its checksum (so a
 * damaged file fails to decompress), and the buffer is also compressed
 * whenever the encoder ends a piece (cs_lz4_cut): so a piece's blocks stand
 * alone, and the next frame takes them as they are when what they hold has
 * not changed (cs_lz4_put_blocks; consensus/segments.h).  The frame has no
 * checksum of its whole content: reused blocks would need decompressing.
 */
#include "consensus/lz4frame.h"

#include <errno.h>
#include <lz4.h>
#include <lz4frame.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STAGE     (64 * 1024)
#define SIZE_ROOM 8 /* what a content size adds to the header */

struct cs_lz4_writer {
        LZ4F_cctx *cctx;
        LZ4F_preferences_t prefs;
        char *out;
        size_t used, cap;  /* out: the frame from SIZE_ROOM on */
        size_t header_len; /* the header begun without a content size */
        unsigned long long content;
        size_t staged;
        bool failed;
        int error;
        char stage[STAGE];
};

static void prefs_init(LZ4F_preferences_t *p, unsigned long long content)
{
        memset(p, 0, sizeof(*p));
        p->frameInfo.blockMode = LZ4F_blockIndependent;
        p->frameInfo.blockChecksumFlag = LZ4F_blockChecksumEnabled;
        p->frameInfo.contentSize = content;
        p->autoFlush = 1; /* each update's input ends in whole blocks */
}

static int fail(struct cs_lz4_writer *w, int error)
{
        if (!w->failed) {
                w->failed = true;
                w->error = error;
        }
        return -1;
}

/* Room for `need` more bytes of output. */
static int reserve(struct cs_lz4_writer *w, size_t need)
{
        if (w->cap - w->used >= need)
                return 0;
        size_t cap = w->cap + w->cap / 2;
        if (cap < w->used + need)
                cap = w->used + need;
        char *p = realloc(w->out, cap);
        if (p == NULL)
                return fail(w, -ENOMEM);
        w->out = p;
        w->cap = cap;
        return 0;
}

struct cs_lz4_writer *cs_lz4_writer_new(size_t hint)
{
        struct cs_lz4_writer *w = malloc(sizeof(*w));
        if (w == NULL)
                return NULL;
        memset(w, 0, offsetof(struct cs_lz4_writer, stage));
        prefs_init(&w->prefs, 0);
        w->cap = hint + hint / 8 > STAGE ? hint + hint / 8 : STAGE;
        w->out = malloc(w->cap);
        if (w->out == NULL ||
            LZ4F_isError(LZ4F_createCompressionContext(&w->cctx, LZ4F_VERSION))) {
                free(w->out);
                free(w);
                return NULL;
        }
        w->used = SIZE_ROOM;
        size_t n =
            LZ4F_compressBegin(w->cctx, w->out + w->used, w->cap - w->used, &w->prefs);
        if (LZ4F_isError(n)) {
                cs_lz4_writer_free(w);
                return NULL;
        }
        w->header_len = n;
        w->used += n;
        return w;
}

/* Compresses what is staged onto the output. */
static int flush(struct cs_lz4_writer *w)
{
        if (w->staged == 0)
                return 0;
        if (reserve(w, LZ4F_compressBound(w->staged, &w->prefs)) != 0)
                return -1;
        size_t n = LZ4F_compressUpdate(w->cctx, w->out + w->used, w->cap - w->used,
                                       w->stage, w->staged, NULL);
        if (LZ4F_isError(n))
                return fail(w, -EIO);
        w->used += n;
        w->content += w->staged;
        w->staged = 0;
        return 0;
}

int cs_lz4_write(void *data, const char *buf, size_t len)
{
        struct cs_lz4_writer *w = data;
        if (w->failed)
                return -1;
        while (len > 0) {
                size_t n = STAGE - w->staged < len ? STAGE - w->staged : len;
                memcpy(w->stage + w->staged, buf, n);
                w->staged += n;
                buf += n;
                len -= n;
                if (w->staged == STAGE && flush(w) != 0)
                        return -1;
        }
        return 0;
}

size_t cs_lz4_cut(struct cs_lz4_writer *w)
{
        return w->failed || flush(w) != 0 ? SIZE_MAX : w->used;
}

const void *cs_lz4_output(const struct cs_lz4_writer *w, size_t at)
{
        return w->out + at;
}

int cs_lz4_put_blocks(struct cs_lz4_writer *w, const void *blocks, size_t len,
                      size_t content)
{
        if (cs_lz4_cut(w) == SIZE_MAX || reserve(w, len) != 0)
                return -1;
        if (len > 0)
                memcpy(w->out + w->used, blocks, len);
        w->used += len;
        w->content += content;
        return 0;
}

int cs_lz4_blocks_decode(const void *blocks, size_t len,
                         int (*write)(void *data, const char *buf, size_t len),
                         void *data)
{
        const uint8_t *p = blocks, *end = p + len;
        char *raw = malloc(STAGE);
        int rv = raw == NULL ? -ENOMEM : 0;
        while (rv == 0 && p < end) {
                /* size (high bit: stored as is), data, checksum */
                if (end - p < 4) {
                        rv = -EBADMSG;
                        break;
                }
                uint32_t word = (uint32_t)p[0] | (uint32_t)p[1] << 8 |
                                (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
                size_t n = word & 0x7fffffffu;
                p += 4;
                if (n > STAGE || (size_t)(end - p) < n + 4) {
                        rv = -EBADMSG;
                        break;
                }
                int got = (word & 0x80000000u) ? (int)n : 0;
                if (got)
                        memcpy(raw, p, n);
                else
                        got = LZ4_decompress_safe((const char *)p, raw, (int)n, STAGE);
                if (got < 0 || write(data, raw, (size_t)got) != 0)
                        rv = got < 0 ? -EBADMSG : -ENOMEM;
                p += n + 4;
        }
        free(raw);
        return rv;
}

void cs_lz4_writer_free(struct cs_lz4_writer *w)
{
        if (w == NULL)
                return;
        LZ4F_freeCompressionContext(w->cctx);
        free(w->out);
        free(w);
}

/* The header again, now with the content size (the frame is ended, so its
 * context begins anew): it ends where the first one did. */
static int rewrite_header(struct cs_lz4_writer *w)
{
        LZ4F_preferences_t p;
        char head[LZ4F_HEADER_SIZE_MAX];
        prefs_init(&p, w->content);
        size_t n = LZ4F_compressBegin(w->cctx, head, sizeof(head), &p);
        if (LZ4F_isError(n) || n != w->header_len + SIZE_ROOM)
                return fail(w, -EIO);
        memcpy(w->out, head, n);
        return 0;
}

int cs_lz4_writer_finish(struct cs_lz4_writer *w, void **out, size_t *out_len)
{
        if (!w->failed && flush(w) == 0 &&
            reserve(w, LZ4F_compressBound(0, &w->prefs)) == 0) {
                size_t n =
                    LZ4F_compressEnd(w->cctx, w->out + w->used, w->cap - w->used, NULL);
                if (LZ4F_isError(n))
                        fail(w, -EIO);
                else
                        w->used += n;
        }
        if (!w->failed && w->content > 0)
                rewrite_header(w);
        if (w->failed || w->content == 0) {
                int rv = w->failed ? w->error : -EIO;
                cs_lz4_writer_free(w);
                return rv;
        }
        /* What raft keeps until the snapshot is written: not the room the
         * hint or the growth left. */
        char *fit = realloc(w->out, w->used);
        *out = fit != NULL ? fit : w->out;
        *out_len = w->used;
        w->out = NULL;
        cs_lz4_writer_free(w);
        return 0;
}

bool cs_lz4_is_frame(const void *buf, size_t len)
{
        const uint8_t *b = buf;
        return len >= 4 && b[0] == 0x04 && b[1] == 0x22 && b[2] == 0x4d && b[3] == 0x18;
}

int cs_lz4_decode(const void *buf, size_t len, void **out, size_t *out_len, char *err,
                  size_t errlen)
{
        LZ4F_dctx *d;
        LZ4F_frameInfo_t info;
        int rv = -EBADMSG;
        char *dst = NULL;
        if (!cs_lz4_is_frame(buf, len)) {
                snprintf(err, errlen, "not an LZ4 frame");
                return -EBADMSG;
        }
        if (LZ4F_isError(LZ4F_createDecompressionContext(&d, LZ4F_VERSION))) {
                snprintf(err, errlen, "out of memory");
                return -ENOMEM;
        }
        size_t in = len;
        size_t r = LZ4F_getFrameInfo(d, &info, buf, &in);
        if (LZ4F_isError(r)) {
                snprintf(err, errlen, "LZ4 frame header: %s", LZ4F_getErrorName(r));
                goto done;
        }
        /* LZ4 expands a byte to at most 255: a larger size is a lie, and
         * would have us allocate it. */
        if (info.contentSize == 0 || info.contentSize > (unsigned long long)len * 256 ||
            info.contentSize > SIZE_MAX) {
                snprintf(err, errlen, "LZ4 frame: content size %llu for %zu bytes",
                         info.contentSize, len);
                goto done;
        }
        size_t total = (size_t)info.contentSize, at = 0, pos = in;
        if ((dst = malloc(total)) == NULL) {
                snprintf(err, errlen, "out of memory");
                rv = -ENOMEM;
                goto done;
        }
        while (r != 0) {
                size_t dn = total - at, sn = len - pos;
                r = LZ4F_decompress(d, dst + at, &dn, (const char *)buf + pos, &sn, NULL);
                if (LZ4F_isError(r)) {
                        snprintf(err, errlen, "LZ4 frame: %s", LZ4F_getErrorName(r));
                        goto done;
                }
                at += dn;
                pos += sn;
                if (r != 0 && dn == 0 && sn == 0) {
                        snprintf(err, errlen, "LZ4 frame: truncated");
                        goto done;
                }
        }
        if (pos != len) { /* one frame is all a snapshot holds */
                snprintf(err, errlen, "LZ4 frame: %zu bytes after its end", len - pos);
                goto done;
        }
        if (at != total) {
                snprintf(err, errlen, "LZ4 frame: %zu bytes, its header says %zu", at,
                         total);
                goto done;
        }
        *out = dst;
        *out_len = total;
        dst = NULL;
        rv = 0;
done:
        free(dst);
        LZ4F_freeDecompressionContext(d);
        return rv;
}
