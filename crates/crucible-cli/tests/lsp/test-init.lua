-- Neovim (0.7 and later) attaches to `crucible lsp` and asks for a completion at the end of
-- the file given in CRUCIBLE_TEST_FILE; it writes what it got to CRUCIBLE_TEST_OUT and quits.
-- Run by crates/crucible-cli/tests/lsp.rs: nvim --headless --clean -u test-init.lua
local out = os.getenv("CRUCIBLE_TEST_OUT")
local function finish(text)
  local handle = assert(io.open(out, "w"))
  handle:write(text)
  handle:close()
  vim.cmd("qall!")
end

local ok, err = pcall(function()
  local file = os.getenv("CRUCIBLE_TEST_FILE")
  local root = os.getenv("CRUCIBLE_TEST_ROOT")
  vim.cmd("edit " .. vim.fn.fnameescape(file))
  local buf = vim.api.nvim_get_current_buf()
  local client_id = vim.lsp.start_client({
    name = "crucible",
    cmd = { os.getenv("CRUCIBLE_BIN"), "lsp", "--scripted-answers", os.getenv("CRUCIBLE_TEST_ANSWERS") },
    root_dir = root,
  })
  assert(client_id, "vim.lsp.start_client gave no client")
  assert(vim.lsp.buf_attach_client(buf, client_id), "buf_attach_client failed")
  local attached = vim.wait(5000, function()
    local client = vim.lsp.get_client_by_id(client_id)
    return client ~= nil and client.initialized
  end, 20)
  assert(attached, "the client did not initialize within 5 s")
  local last = vim.api.nvim_buf_line_count(buf)
  local line = vim.api.nvim_buf_get_lines(buf, last - 1, last, true)[1]
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(buf) },
    position = { line = last - 1, character = #line },
  }
  local responses, request_err = vim.lsp.buf_request_sync(buf, "textDocument/completion", params, 5000)
  assert(responses, "no completion response: " .. tostring(request_err))
  local response = responses[client_id]
  assert(response, "no response from the crucible client")
  assert(not response.err, "completion error: " .. vim.inspect(response.err))
  local items = response.result
  if items and items.items then
    items = items.items
  end
  assert(items and items[1], "an empty completion: " .. vim.inspect(response.result))
  local item = items[1]
  local text = (item.textEdit and item.textEdit.newText) or item.insertText or item.label
  vim.lsp.stop_client(client_id)
  finish("OK\n" .. text)
end)
if not ok then
  finish("ERROR\n" .. tostring(err))
end
