/* cli/cmd_kb_stub.c: stands in for cmd_kb.c in a build without rag/ (its libraries not built yet):
 * every knowledge-base command says plainly that it is not built and exits 3. */
#include "cli/cli.h"


int cmd_docs(struct cli *c)
{
    (void)c;
    return cli_not_built("docs");
}

int cmd_search(struct cli *c)
{
    (void)c;
    return cli_not_built("search");
}

int cmd_ask(struct cli *c)
{
    (void)c;
    return cli_not_built("ask");
}

int cmd_faq(struct cli *c)
{
    (void)c;
    return cli_not_built("faq");
}

int cmd_user(struct cli *c)
{
    (void)c;
    return cli_not_built("user");
}

int cmd_audit(struct cli *c)
{
    (void)c;
    return cli_not_built("audit");
}

int cmd_bot(struct cli *c)
{
    (void)c;
    return cli_not_built("bot");
}

int cmd_collection(struct cli *c)
{
    (void)c;
    return cli_not_built("collection");
}

int cli_ingest_store(struct cli *c, const char *const *paths, int n_paths, bool prune, const char *collection)
{
    (void)c, (void)paths, (void)n_paths, (void)prune, (void)collection;
    return cli_not_built("ingest (storing)");
}
