/* `cvm models`: the (architecture, task, backend) combinations this build runs. */
#include <stdio.h>

#include "commands.h"
#include "models/model.h"

int cmd_models(int argc, char **argv)
{
    (void)argv;
    if (argc > 1) {
        fprintf(stderr, "usage: cvm models\n");
        return 2;
    }
    printf("%-10s %-28s %-8s %s\n", "ARCH", "TASK", "BACKEND", "NOTES");
    for (size_t i = 0; i < cvm_registry_size(); i++) {
        const cvm_model_impl *e = cvm_registry_at(i);
        printf("%-10s %-28s %-8s %s\n", e->architecture, cvm_task_string(e->task), e->backend, e->notes);
    }
    return 0;
}
