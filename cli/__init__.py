"""The `bigcode-ls` command line: the server, one completion, tuning, statistics. The one
package that joins the server (`lsp_server`) and the trainer (`training`)."""
