/* ingest/xml.c: XML and HTML parsing: the only libxml2 includer.
 *
 * libxml2 parses into its own tree, which this file copies into a small read-only tree of struct
 * xml_node (local element names; attribute names keep their prefix, "r:id"; text) in a
 * caller-owned arena, then frees. Copying keeps
 * libxml2 types out of the parsers and makes the walk iterative, so hostile nesting cannot blow the
 * stack. Safety: XML_PARSE_NONET, and never XML_PARSE_NOENT, DTDLOAD or DTDATTR: entities are not
 * substituted (entity reference nodes are dropped), no DTD is fetched, nothing touches the network;
 * libxml2's own entity-loop detection rejects billion-laughs documents. Errors and warnings are
 * silenced (NOERROR, NOWARNING) so nothing prints. HTML must arrive as UTF-8 (encoding.c decodes
 * it). xmlInitParser() runs once under pthread_once, so parses may run on several threads.
 * Tests: tests/ingest/test_office.c (entity expansion), test_text.c (HTML). */
#include "ingest/ingest_int.h"

#include <libxml/HTMLparser.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *xml_copy(struct kb_arena *a, const xmlChar *s)
{
    return kb_arena_strdup(a, s ? (const char *)s : "");
}

/* Copies one libxml2 node (element, text or CDATA); *skip when the kind is not kept. */
static struct xml_node *xml_copy_node(struct kb_arena *a, xmlNode *src, bool html, bool *skip)
{
    *skip = false;
    if (src->type != XML_ELEMENT_NODE && src->type != XML_TEXT_NODE && src->type != XML_CDATA_SECTION_NODE) {
        *skip = true;
        return NULL;
    }
    struct xml_node *n = kb_arena_alloc(a, sizeof *n);
    if (!n)
        return NULL;
    memset(n, 0, sizeof *n);
    if (src->type != XML_ELEMENT_NODE) {
        n->text = xml_copy(a, src->content);
        return n->text ? n : NULL;
    }
    n->name = xml_copy(a, src->name);
    if (!n->name)
        return NULL;
    if (html) { /* libxml2 lowercases known tags; make unknown ones match too */
        for (char *p = (char *)n->name; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p + 32);
    }
    struct xml_attr **tail = &n->attrs;
    for (xmlAttr *at = src->properties; at; at = at->next) {
        struct xml_attr *x = kb_arena_alloc(a, sizeof *x);
        if (!x)
            return NULL;
        if (at->ns && at->ns->prefix) { /* keep the prefix: r:id and id differ in OOXML */
            char nm[128];
            snprintf(nm, sizeof nm, "%s:%s", (const char *)at->ns->prefix, (const char *)at->name);
            x->name = kb_arena_strdup(a, nm);
        } else {
            x->name = xml_copy(a, at->name);
        }
        const xmlChar *v = at->children && (at->children->type == XML_TEXT_NODE) ? at->children->content : NULL;
        x->value = xml_copy(a, v);
        x->next = NULL;
        if (!x->name || !x->value)
            return NULL;
        *tail = x;
        tail = &x->next;
    }
    return n;
}

static void xml_append(struct xml_node *parent, struct xml_node *child)
{
    child->parent = parent;
    if (!parent->child) {
        parent->child = child;
        parent->text = (const char *)(uintptr_t)child;
        return;
    }
    /* Siblings are appended in document order; parent->text caches the last child (elements have
     * no text of their own), keeping appends O(1). */
    struct xml_node *last = (struct xml_node *)(uintptr_t)parent->text;
    last->next = child;
    parent->text = (const char *)(uintptr_t)child;
}

static void xml_clear_tails(struct xml_node *root)
{
    /* Iterative preorder reset of the tail caches stored in element text pointers. */
    struct xml_node *n = root;
    while (n) {
        if (n->name)
            n->text = NULL;
        if (n->child) {
            n = n->child;
            continue;
        }
        while (n && !n->next)
            n = n->parent;
        if (n)
            n = n->next;
    }
}

static int xml_convert(struct kb_arena *a, xmlDoc *doc, bool html, struct xml_node **root)
{
    struct xml_node *top = kb_arena_alloc(a, sizeof *top);
    if (!top)
        return KB_ETOOBIG;
    memset(top, 0, sizeof *top);
    top->name = "#document";
    struct xml_node *dst_parent = top;
    xmlNode *n = doc->children;
    while (n) {
        bool skip;
        struct xml_node *d = xml_copy_node(a, n, html, &skip);
        if (!d && !skip)
            return KB_ETOOBIG;
        if (d) {
            xml_append(dst_parent, d);
            if (n->type == XML_ELEMENT_NODE && n->children) {
                dst_parent = d;
                n = n->children;
                continue;
            }
        }
        while (n && !n->next) {
            n = n->parent;
            if (!n || n->type == XML_DOCUMENT_NODE || n->type == XML_HTML_DOCUMENT_NODE) {
                n = NULL;
                break;
            }
            dst_parent = dst_parent->parent;
        }
        if (n)
            n = n->next;
    }
    xml_clear_tails(top);
    *root = top;
    return 0;
}

int xml_parse(struct ingest_ctx *c, struct kb_arena *scratch, const char *data, size_t n, bool html,
              struct xml_node **root)
{
    *root = NULL;
    if (n > (size_t)INT32_MAX)
        return kb_error_set(c->err, KB_ETOOBIG, "cannot parse '%s': XML part larger than 2 GiB", c->name);
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, xmlInitParser); /* libxml2's own one-time setup, not thread-safe by itself */
    xmlDoc *doc;
    if (html)
        doc = htmlReadMemory(data, (int)n, NULL, "UTF-8",
                             HTML_PARSE_NONET | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING | HTML_PARSE_RECOVER |
                                 HTML_PARSE_COMPACT);
    else
        doc = xmlReadMemory(data, (int)n, NULL, NULL,
                            XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA |
                                XML_PARSE_COMPACT);
    if (!doc) {
        const xmlError *e = xmlGetLastError();
        int rc = kb_error_set(c->err, KB_ECORRUPT, "cannot parse '%s': malformed %s%s%.200s", c->name,
                              html ? "HTML" : "XML", e && e->message ? ": " : "", e && e->message ? e->message : "");
        /* libxml2 messages end with a newline */
        if (c->err) {
            size_t l = strlen(c->err->msg);
            while (l > 0 && (c->err->msg[l - 1] == '\n' || c->err->msg[l - 1] == ' '))
                c->err->msg[--l] = '\0';
        }
        xmlResetLastError();
        return rc;
    }
    int rc = xml_convert(scratch, doc, html, root);
    xmlFreeDoc(doc);
    if (rc)
        return kb_error_set(c->err, rc, "cannot parse '%s': document tree passes ingest.max_parse_bytes", c->name);
    return 0;
}

const char *xml_attr(const struct xml_node *n, const char *name)
{
    if (!n)
        return NULL;
    for (const struct xml_attr *a = n->attrs; a; a = a->next)
        if (strcmp(a->name, name) == 0)
            return a->value;
    return NULL;
}

bool xml_is(const struct xml_node *n, const char *name)
{
    return n && n->name && strcmp(n->name, name) == 0;
}

struct xml_node *xml_child(const struct xml_node *n, const char *name)
{
    for (struct xml_node *k = n ? n->child : NULL; k; k = k->next)
        if (xml_is(k, name))
            return k;
    return NULL;
}

struct xml_node *xml_find(const struct xml_node *root, const char *name)
{
    if (!root)
        return NULL;
    const struct xml_node *n = root->child;
    while (n) {
        if (xml_is(n, name))
            return (struct xml_node *)n;
        if (n->child) {
            n = n->child;
            continue;
        }
        while (n && n != root && !n->next)
            n = n->parent;
        if (!n || n == root)
            break;
        n = n->next;
    }
    return NULL;
}

int xml_text(const struct xml_node *root, struct kb_buf *b)
{
    if (!root)
        return 0;
    if (!root->name)
        return kb_buf_puts(b, root->text);
    const struct xml_node *n = root->child;
    int rc = 0;
    while (n && !rc) {
        if (!n->name)
            rc = kb_buf_puts(b, n->text);
        if (n->child) {
            n = n->child;
            continue;
        }
        while (n && n != root && !n->next)
            n = n->parent;
        if (!n || n == root)
            break;
        n = n->next;
    }
    return rc;
}
