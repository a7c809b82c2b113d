/* web/tls.c: HTTPS credentials for the server (server.tls_cert, server.tls_key), the only GnuTLS
 * user. libmicrohttpd (Debian's is built with GnuTLS: MHD_FEATURE_TLS) does the TLS; this file
 * loads and checks the PEM files and hands the current certificate to each new handshake through
 * MHD_OPTION_HTTPS_CERT_CALLBACK (GnuTLS's certificate-retrieve function), so a reload (SIGHUP
 * after a renewal) applies to the next handshake without restarting the listener or dropping a
 * connection. Chosen over restarting the daemon's listener because the server's state (suspended
 * streams, the connection watchdog, metrics) is tied to one MHD daemon.
 *
 * Loading: both files are read (each at most WEB_TLS_MAX_BYTES), the chain is imported as X.509
 * PEM (leaf first), the key as PEM (PKCS#1/PKCS#8, RSA or EC), and the key must match the leaf's
 * public key; any failure names the file and GnuTLS's reason. A failed reload keeps the old
 * credentials and says why.
 *
 * Threads and lifetime: the retrieve callback gets no user pointer from GnuTLS, so the current
 * credentials hang off one process-wide pointer (tls_current), set by web_tls_open and cleared by
 * web_tls_close; a second TLS server in one process is refused (STYLE 14 allows no globals: this is
 * the one place GnuTLS's API leaves no other way, and it is guarded by tls_mu). GnuTLS keeps using
 * the credentials it got during a session, so replaced ones are kept (a short list, one entry per
 * reload) until web_tls_close. Tests: tests/web/test_tls.c. */
#include "web/web_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#define WEB_TLS_MAX_BYTES (1u << 20) /* a PEM file larger than this is not a certificate or key */
#define WEB_TLS_MAX_CHAIN 16

struct tls_creds {
    gnutls_pcert_st pcert[WEB_TLS_MAX_CHAIN]; /* leaf first */
    unsigned n_pcert;
    gnutls_privkey_t key;
    struct tls_creds *older;                  /* replaced credentials, kept until close */
};

struct web_tls {
    char cert_path[4200];
    char key_path[4200];
    struct tls_creds *cur;  /* guarded by tls_mu */
};

static pthread_mutex_t tls_mu = PTHREAD_MUTEX_INITIALIZER;
static struct web_tls *tls_current; /* see the file comment: GnuTLS's callback has no user pointer */

static int read_file(const char *path, const char *what, gnutls_datum_t *out, struct kb_error *err)
{
    FILE *f = fopen(path, "rb");
    size_t n = 0, got;
    int rc = 0;
    out->data = NULL;
    out->size = 0;
    if (!f)
        return kb_error_set(err, KB_ECONFIG, "%s '%s': %s", what, path, strerror(errno));
    out->data = kb_xmalloc(WEB_TLS_MAX_BYTES + 1);
    while ((got = fread(out->data + n, 1, WEB_TLS_MAX_BYTES + 1 - n, f)) > 0 && n <= WEB_TLS_MAX_BYTES)
        n += got;
    if (n > WEB_TLS_MAX_BYTES)
        rc = kb_error_set(err, KB_ECONFIG, "%s '%s' is larger than %u bytes", what, path, WEB_TLS_MAX_BYTES);
    else if (n == 0)
        rc = kb_error_set(err, KB_ECONFIG, "%s '%s' is empty", what, path);
    out->size = (unsigned)n;
    fclose(f);
    return rc;
}

static void creds_free(struct tls_creds *c)
{
    while (c) {
        struct tls_creds *next = c->older;
        for (unsigned i = 0; i < c->n_pcert; i++)
            gnutls_pcert_deinit(&c->pcert[i]);
        if (c->key)
            gnutls_privkey_deinit(c->key);
        free(c);
        c = next;
    }
}

/* Loads the chain and key and checks that they belong together. */
static int creds_load(struct tls_creds **out, const char *cert_path, const char *key_path, struct kb_error *err)
{
    struct tls_creds *c = kb_xcalloc(1, sizeof *c);
    gnutls_datum_t cert = {0}, key = {0}, leaf_pub = {0}, key_pub = {0};
    gnutls_pubkey_t kp = NULL;
    unsigned n = WEB_TLS_MAX_CHAIN;
    int rc, g;

    *out = NULL;
    if ((rc = read_file(cert_path, "server.tls_cert", &cert, err)) || (rc = read_file(key_path, "server.tls_key", &key, err)))
        goto out;
    g = gnutls_pcert_list_import_x509_raw(c->pcert, &n, &cert, GNUTLS_X509_FMT_PEM, 0);
    if (g < 0 || n == 0) {
        rc = kb_error_set(err, KB_ECONFIG, "server.tls_cert '%s' is not a PEM certificate: %s", cert_path,
                          g < 0 ? gnutls_strerror(g) : "no certificate in it");
        goto out;
    }
    c->n_pcert = n;
    if ((g = gnutls_privkey_init(&c->key)) < 0 ||
        (g = gnutls_privkey_import_x509_raw(c->key, &key, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
        rc = kb_error_set(err, KB_ECONFIG, "server.tls_key '%s' is not an unencrypted PEM private key: %s", key_path,
                          gnutls_strerror(g));
        goto out;
    }
    /* the key must be the leaf certificate's: compare the public keys */
    if ((g = gnutls_pubkey_init(&kp)) < 0 || (g = gnutls_pubkey_import_privkey(kp, c->key, 0, 0)) < 0 ||
        (g = gnutls_pubkey_export2(kp, GNUTLS_X509_FMT_DER, &key_pub)) < 0 ||
        (g = gnutls_pubkey_export2(c->pcert[0].pubkey, GNUTLS_X509_FMT_DER, &leaf_pub)) < 0) {
        rc = kb_error_set(err, KB_ECONFIG, "server.tls_key '%s': cannot read its public key: %s", key_path,
                          gnutls_strerror(g));
        goto out;
    }
    if (key_pub.size != leaf_pub.size || memcmp(key_pub.data, leaf_pub.data, key_pub.size) != 0) {
        rc = kb_error_set(err, KB_ECONFIG, "server.tls_key '%s' does not belong to the certificate in '%s'", key_path,
                          cert_path);
        goto out;
    }
    *out = c;
    c = NULL;
out:
    gnutls_free(key_pub.data);
    gnutls_free(leaf_pub.data);
    if (kp)
        gnutls_pubkey_deinit(kp);
    free(cert.data);
    if (key.data) {
        memset(key.data, 0, key.size); /* the private key does not linger in freed memory */
        free(key.data);
    }
    creds_free(c);
    return rc;
}

/* GnuTLS asks for our certificate during a handshake. */
static int tls_retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_dn, int n_req,
                        const gnutls_pk_algorithm_t *pk_algos, int n_algos, gnutls_pcert_st **pcert,
                        unsigned int *n_pcert, gnutls_privkey_t *key)
{
    int rc = -1;
    (void)session;
    (void)req_ca_dn;
    (void)n_req;
    (void)pk_algos;
    (void)n_algos;
    pthread_mutex_lock(&tls_mu);
    if (tls_current && tls_current->cur) {
        *pcert = tls_current->cur->pcert;
        *n_pcert = tls_current->cur->n_pcert;
        *key = tls_current->cur->key;
        rc = 0;
    }
    pthread_mutex_unlock(&tls_mu);
    return rc;
}

void *web_tls_callback(void)
{
    return (void *)tls_retrieve;
}

int web_tls_open(struct web_tls **out, const char *cert_path, const char *key_path, struct kb_error *err)
{
    struct web_tls *t;
    int rc;
    *out = NULL;
    if (!cert_path[0] || !key_path[0])
        return kb_error_set(err, KB_ECONFIG, "HTTPS needs both server.tls_cert and server.tls_key (only %s is set)",
                            cert_path[0] ? "server.tls_cert" : "server.tls_key");
    t = kb_xcalloc(1, sizeof *t);
    kb_strlcpy(t->cert_path, cert_path, sizeof t->cert_path);
    kb_strlcpy(t->key_path, key_path, sizeof t->key_path);
    if ((rc = creds_load(&t->cur, cert_path, key_path, err))) {
        free(t);
        return rc;
    }
    pthread_mutex_lock(&tls_mu);
    if (tls_current)
        rc = kb_error_set(err, KB_EBUSY, "another HTTPS server runs in this process");
    else
        tls_current = t;
    pthread_mutex_unlock(&tls_mu);
    if (rc) {
        creds_free(t->cur);
        free(t);
        return rc;
    }
    *out = t;
    return 0;
}

int web_tls_reload(struct web_tls *t, struct kb_error *err)
{
    struct tls_creds *c = NULL;
    int rc;
    if (!t)
        return 0;
    if ((rc = creds_load(&c, t->cert_path, t->key_path, err)))
        return rc; /* the old credentials stay */
    pthread_mutex_lock(&tls_mu);
    c->older = t->cur;
    t->cur = c;
    pthread_mutex_unlock(&tls_mu);
    return 0;
}

void web_tls_close(struct web_tls *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&tls_mu);
    if (tls_current == t)
        tls_current = NULL;
    pthread_mutex_unlock(&tls_mu);
    creds_free(t->cur);
    free(t);
}
