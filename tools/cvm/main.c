#include <stdio.h>
#include <string.h>

#include "cvm/cvm.h"

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--version") == 0) {
        printf("cvm %s\n", CVM_VERSION_STRING);
        return argc < 2 ? 2 : 0;
    }
    fprintf(stderr, "cvm: unknown command '%s'\n", argv[1]);
    return 2;
}
