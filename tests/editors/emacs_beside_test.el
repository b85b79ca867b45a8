;;; emacs_beside_test.el --- bigcode-ls-mode beside eglot or lsp-mode running pylsp -*- lexical-binding: t; -*-
;; Env: BIGCODE_REPO, BIGCODE_PYTHON, BIGCODE_MODEL, BIGCODE_FILE, BIGCODE_PYLSP,
;; BIGCODE_MANAGER (eglot or lsp-mode: which manages the buffer with pylsp).

(load (expand-file-name "tests/editors/emacs_helpers.el" (getenv "BIGCODE_REPO")) nil t)
(defconst bigcode-test-lsp-mode (equal (getenv "BIGCODE_MANAGER") "lsp-mode"))
(if (not bigcode-test-lsp-mode)
    (require 'eglot)
  (require 'lsp-mode)
  (setq lsp-auto-guess-root t lsp-enable-snippet nil lsp-keep-workspace-alive nil
        lsp-session-file (expand-file-name "lsp-session" temporary-file-directory)
        lsp-enable-file-watchers nil lsp-headerline-breadcrumb-enable nil
        lsp-modeline-code-actions-enable nil lsp-modeline-diagnostics-enable nil
        lsp-completion-enable nil lsp-diagnostics-provider :none)
  (lsp-register-client
   (make-lsp-client :new-connection (lsp-stdio-connection (lambda () (list (getenv "BIGCODE_PYLSP"))))
                    :activation-fn (lsp-activate-on "python") :server-id 'test-pylsp :priority 10)))

(defun bigcode-test-start-pylsp ()
  "Have eglot or lsp-mode manage this buffer with pylsp; fail unless it does."
  (if bigcode-test-lsp-mode
      (progn
        (lsp)
        (unless (bigcode-test-wait
                 (lambda () (and (lsp-workspaces)
                                 (eq (lsp--workspace-status (car (lsp-workspaces))) 'initialized)))
                 60)
          (bigcode-test-fail "lsp-mode did not start pylsp"))
        (unless (eq (lsp--client-server-id (lsp--workspace-client (car (lsp-workspaces)))) 'test-pylsp)
          (bigcode-test-fail "lsp-mode runs another server")))
    (eglot-ensure)
    (run-hooks 'post-command-hook)
    (unless (bigcode-test-wait #'eglot-current-server 60)
      (bigcode-test-fail "eglot did not connect to pylsp"))
    (let ((command (process-command (jsonrpc--process (eglot-current-server)))))
      (unless (string-match-p "pylsp" (mapconcat #'identity command " "))
        (bigcode-test-fail "eglot runs %S, not pylsp" command)))))

(defun bigcode-test-pylsp-labels ()
  "The labels of pylsp's completions at point."
  (if bigcode-test-lsp-mode
      (let* ((result (lsp-request "textDocument/completion" (lsp--text-document-position-params)))
             (items (if (hash-table-p result) (gethash "items" result) result)))
        (mapcar (lambda (item) (gethash "label" item)) (append items nil)))
    (eglot--signal-textDocument/didChange)
    (let* ((result (jsonrpc-request (eglot-current-server) :textDocument/completion
                                    (eglot--TextDocumentPositionParams)))
           (items (if (vectorp result) result (plist-get result :items))))
      (mapcar (lambda (item) (plist-get item :label)) items))))

(defun bigcode-test-server-text ()
  "The server's copy of this buffer."
  (plist-get (plist-get (jsonrpc-request bigcode-ls--connection :bigcode/status
                                         (list :uri (bigcode-ls--uri)))
                        :document)
             :text))

(defun bigcode-test-suggestion ()
  "Ask bigcode-ls at point; the ghost text shown."
  (when (timerp bigcode-ls--timer) (cancel-timer bigcode-ls--timer))
  (bigcode-ls-request)
  (unless (bigcode-test-wait #'bigcode-ls-visible-p 60)
    (bigcode-test-fail "no ghost text in %s" major-mode))
  (substring-no-properties (overlay-get bigcode-ls--overlay 'after-string)))

(with-eval-after-load 'eglot  ; the user's own language server for Python: pylsp
  (setq eglot-server-programs (list (list '(python-mode) (getenv "BIGCODE_PYLSP")))
        eglot-sync-connect t eglot-connect-timeout 60))
(add-hook 'prog-mode-hook #'bigcode-ls-mode)

(condition-case err
    (progn
      ;; A JavaScript file first: the hook starts the mode (and the server), a suggestion shows.
      (find-file (concat (file-name-sans-extension (getenv "BIGCODE_FILE")) ".js"))
      (js-mode)
      (insert "const value = f(")
      (unless bigcode-ls-mode
        (bigcode-test-fail "no bigcode-ls-mode in a JavaScript buffer"))
      (let ((shown (bigcode-test-suggestion)))
        (unless (equal shown "xxxx")
          (bigcode-test-fail "JavaScript ghost text %S" shown)))
      (bigcode-ls-clear)
      (let ((js-buffer (current-buffer)))
	(find-file (getenv "BIGCODE_FILE"))
	(python-mode)
	(unless bigcode-ls-mode
          (bigcode-test-fail "prog-mode-hook did not start bigcode-ls-mode"))
	(bigcode-test-start-pylsp)
	;; bigcode-ls answers on its own connection ...
	(goto-char (point-min))
	(search-forward "f(")
	(let ((shown (bigcode-test-suggestion)))
          (unless (equal shown "xxxx")
            (bigcode-test-fail "ghost text %S" shown)))
	(let ((this-command 'bigcode-ls-accept-or-indent))
          (bigcode-ls-accept-or-indent))
	(unless (equal (buffer-substring-no-properties (line-beginning-position) (line-end-position))
                       "value = f(xxxx)")
          (bigcode-test-fail "line after accept: %S" (thing-at-point 'line)))
	;; ... and its copy of the buffer follows every kind of edit.
	(goto-char (point-max))
	(insert "def g(a):\n    return a\n\nos.pa")
	(save-excursion
          (goto-char (point-min))
          (insert "# é 中 😀\n")
          (forward-line 1)
          (delete-region (point) (line-beginning-position 2)))
	(undo-boundary)
	(save-excursion (goto-char (point-min)) (while (search-forward "a" nil t) (replace-match "A")))
	(unless (equal (bigcode-test-server-text) (buffer-substring-no-properties (point-min) (point-max)))
          (bigcode-test-fail "the server's copy differs:\n%S\n%S" (bigcode-test-server-text) (buffer-string)))
	(goto-char (point-max))
	(delete-char -2)
	(insert "pa")
	;; pylsp, through eglot or lsp-mode, still serves the same buffer.
	(let ((labels (bigcode-test-pylsp-labels)))
          (unless (seq-find (lambda (label) (string-prefix-p "path" label)) labels)
            (bigcode-test-fail "pylsp's completions at os.pa: %S" labels)))
	;; A model that completes Python only: no requests in the JavaScript buffer.
	(with-current-buffer js-buffer
          (let ((bigcode-ls--languages '("python")))
            (when (bigcode-ls--serves-here-p)
              (bigcode-test-fail "a Python-only model would be asked about JavaScript")))))
      (princ "BIGCODE-EMACS-OK\n")
      (kill-emacs 0))
  (error (bigcode-test-fail "error: %S" err)))
