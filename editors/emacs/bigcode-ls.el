;;; bigcode-ls.el --- Local AI code completion with bigcode-ls -*- lexical-binding: t; -*-

;; Version: 0.1.0
;; Package-Requires: ((emacs "28.1"))
;; Keywords: tools, convenience
;; URL: https://example.invalid/bigcode-ls

;;; Commentary:

;; Ghost text from the bigcode-ls language server (LSP
;; textDocument/inlineCompletion): TAB accepts it, M-<right> a word, M-<down> a
;; line, M-] / M-[ cycle; any other command clears it.  Two set-ups:
;;
;; Beside your own language server (eglot or lsp-mode keep managing the buffer with
;; pyright, pylsp, gopls, ...): `bigcode-ls-mode' runs bigcode-ls on a JSON-RPC
;; connection of its own and syncs the buffer itself.
;;
;;   (require 'bigcode-ls)
;;   (add-hook 'prog-mode-hook #'bigcode-ls-mode)
;;
;; As eglot's server for a mode (then eglot runs no other server there):
;;
;;   (require 'bigcode-ls)
;;   (bigcode-ls-register)
;;   (add-hook 'python-mode-hook #'eglot-ensure)
;;   (add-hook 'eglot-managed-mode-hook #'bigcode-ls-inline-mode)
;;
;; The server owns every model and prompt decision; this file only starts it,
;; passes settings and shows what it answers.

;;; Code:

(require 'cl-lib)
(require 'seq)
(require 'jsonrpc)
(require 'url-util)
(require 'eglot nil t)                  ; only for `bigcode-ls-register'

(declare-function eglot-current-server "eglot")
(declare-function eglot--TextDocumentPositionParams "eglot")
(declare-function eglot--VersionedTextDocumentIdentifier "eglot")
(declare-function eglot--pos-to-lsp-position "eglot")
(declare-function eglot--signal-textDocument/didChange "eglot")
(declare-function eglot--lsp-position-to-point "eglot")
(defvar eglot-server-programs)

(defgroup bigcode-ls nil
  "Local AI code completion with bigcode-ls."
  :group 'tools)

(defcustom bigcode-ls-command '("bigcode-ls")
  "Command (program and arguments) that starts the server over stdio."
  :type '(repeat string))

(defcustom bigcode-ls-modes '(python-mode python-ts-mode)
  "Major modes for which eglot starts bigcode-ls."
  :type '(repeat symbol))

(defcustom bigcode-ls-settings nil
  "Server settings, a plist sent as initializationOptions.bigcode.
For example (:maxNewTokens 64 :multiline \"auto\")."
  :type 'plist)

(defcustom bigcode-ls-idle-delay 0.15
  "Seconds of idle time after a change before asking for a suggestion."
  :type 'number)

(defcustom bigcode-ls-rest-delay 0.2
  "Seconds the cursor must rest at a new place before the server is told (nil: never).
The server then computes that place's prompt while you read (`bigcode/didMoveCursor')."
  :type '(choice number (const nil)))

(defcustom bigcode-ls-next-edit-delay 0.3
  "Seconds of idle time after a change before asking for the next edit (nil: never).
The server proposes the edit you will make next (a rename's other uses, a missing
import, the same change on a nearby line): `bigcode-ls-next-edit-jump' goes there,
`bigcode-ls-next-edit-accept' makes it."
  :type '(choice number (const nil)))

(defface bigcode-ls-ghost-face '((t :inherit shadow))
  "Face of the inline suggestion.")

(defface bigcode-ls-next-edit-face '((t :inherit highlight))
  "Face of the text a proposed next edit would replace.")

;;;; Registration with eglot

(defun bigcode-ls--contact ()
  "The eglot contact for bigcode-ls."
  (append bigcode-ls-command
          (list :initializationOptions (list :bigcode (or bigcode-ls-settings '(:enable t))))))

;;;###autoload
(defun bigcode-ls-register ()
  "Make eglot start bigcode-ls for `bigcode-ls-modes'."
  (interactive)
  (setq eglot-server-programs
        (cons (cons bigcode-ls-modes (lambda (&rest _) (bigcode-ls--contact)))
              (seq-remove (lambda (entry) (equal (car entry) bigcode-ls-modes))
                          eglot-server-programs))))

;;;; Which connection: eglot's, or bigcode-ls's own

(defvar-local bigcode-ls--own nil
  "Non-nil in a buffer of `bigcode-ls-mode': bigcode-ls's own connection serves it.")
(defvar-local bigcode-ls--version 0 "Version of this buffer as last sent (own connection).")
(defvar bigcode-ls--languages nil
  "The LSP language ids the server's model completes (\"*\": every one), once known.")

(defun bigcode-ls--server ()
  "The connection to bigcode-ls for this buffer, or nil."
  (cond (bigcode-ls--own (bigcode-ls--own-connection))
        ((fboundp 'eglot-current-server) (eglot-current-server))))

(defun bigcode-ls--position-params ()
  "The LSP document and position of point."
  (if bigcode-ls--own
      (list :textDocument (list :uri (bigcode-ls--uri)) :position (bigcode-ls--lsp-position (point)))
    (eglot--TextDocumentPositionParams)))

(defun bigcode-ls--document-at-version ()
  "The LSP versioned identifier of this buffer."
  (if bigcode-ls--own
      (list :uri (bigcode-ls--uri) :version bigcode-ls--version)
    (eglot--VersionedTextDocumentIdentifier)))

(defun bigcode-ls--point-position ()
  (if bigcode-ls--own (bigcode-ls--lsp-position (point)) (eglot--pos-to-lsp-position)))

(defun bigcode-ls--lsp-point (position)
  "The buffer position of the LSP POSITION."
  (if bigcode-ls--own
      (save-restriction
        (widen)
        (save-excursion
          (goto-char (point-min))
          (forward-line (plist-get position :line))
          (min (+ (point) (plist-get position :character)) (line-end-position))))
    (eglot--lsp-position-to-point position)))

(defun bigcode-ls--flush ()
  "Make sure the server has every edit (eglot sends them late; ours go at once)."
  (unless bigcode-ls--own
    (eglot--signal-textDocument/didChange)))

;;;; Inline suggestions

(defvar-local bigcode-ls--overlay nil "Overlay showing the current suggestion.")
(defvar-local bigcode-ls--text nil "Text of the current suggestion.")
(defvar-local bigcode-ls--timer nil "Idle timer of the pending request.")
(defvar-local bigcode-ls--request-tick 0 "Counter that identifies the newest request.")

(defvar-local bigcode-ls--origin nil
  "The server's suggestion being worked through: (URI TEXT POSITION ACCEPTED-CHARS).
What the acceptance notifications report, once per suggestion.")

(defun bigcode-ls--notify (method params)
  "Send the notification METHOD with PARAMS, if the server is up."
  (when-let ((server (bigcode-ls--server)))
    (ignore-errors (jsonrpc-notify server method params))))

(defun bigcode-ls--resolve ()
  "Tell the server what became of the suggestion: accepted (whole or in part) or dismissed."
  (when bigcode-ls--origin
    (pcase-let ((`(,uri ,text ,position ,accepted) bigcode-ls--origin))
      (setq bigcode-ls--origin nil)
      (if (> accepted 0)
          (bigcode-ls--notify :bigcode/didAcceptCompletion
                              (list :uri uri :text text :acceptedLength accepted :position position))
        (bigcode-ls--notify :bigcode/didDismissCompletion (list :uri uri :text text))))))

(defun bigcode-ls--took (part)
  "Count PART of the suggestion as accepted; report the outcome once all of it is."
  (when bigcode-ls--origin
    (cl-incf (nth 3 bigcode-ls--origin) (length part))
    (when (>= (nth 3 bigcode-ls--origin) (length (nth 1 bigcode-ls--origin)))
      (bigcode-ls--resolve))))

(defun bigcode-ls-clear (&optional keep-origin)
  "Remove the suggestion shown, if any.
Unless KEEP-ORIGIN (a partial accept redrawing the rest), report what became of it."
  (interactive)
  (when (overlayp bigcode-ls--overlay)
    (delete-overlay bigcode-ls--overlay))
  (setq bigcode-ls--overlay nil
        bigcode-ls--text nil)
  (unless keep-origin
    (bigcode-ls--resolve)))

(defun bigcode-ls-visible-p ()
  "Non-nil when a suggestion is shown."
  (and bigcode-ls--text (overlayp bigcode-ls--overlay)))

(defun bigcode-ls--show (text)
  "Show TEXT as ghost text at point."
  (bigcode-ls-clear t)
  (when (and text (not (string-empty-p text)))
    (let ((ov (make-overlay (point) (point) nil t nil)))
      (overlay-put ov 'after-string
                   (concat (propertize (substring text 0 1) 'face 'bigcode-ls-ghost-face 'cursor t)
                           (propertize (substring text 1) 'face 'bigcode-ls-ghost-face)))
      (overlay-put ov 'bigcode-ls t)
      (setq bigcode-ls--overlay ov
            bigcode-ls--text text))))

(defun bigcode-ls-request ()
  "Ask the server for an inline suggestion at point."
  (interactive)
  (when-let ((server (and (bigcode-ls--serves-here-p) (bigcode-ls--server))))
    (let* ((buffer (current-buffer))
           (point (point))
           (tick (buffer-chars-modified-tick))
           (id (cl-incf bigcode-ls--request-tick))
           (params (append (bigcode-ls--position-params)
                           (list :context (list :triggerKind 2)))))
      (jsonrpc-async-request
       server :textDocument/inlineCompletion params
       :success-fn
       (lambda (result)
         (when (buffer-live-p buffer)
           (with-current-buffer buffer
             ;; Only the newest answer, for unchanged text and an unmoved point.
             (when (and (= id bigcode-ls--request-tick)
                        (= tick (buffer-chars-modified-tick))
                        (= point (point)))
               (let* ((items (if (vectorp result) result (plist-get result :items)))
                      (texts (seq-filter (lambda (text) (and (stringp text) (not (string-empty-p text))))
                                         (mapcar (lambda (item) (plist-get item :insertText)) items)))
                      (text (car texts)))
                 (when text
                   (let ((uri (plist-get (plist-get params :textDocument) :uri)))
                     (bigcode-ls--resolve)
                     (setq bigcode-ls--origin (list uri text (plist-get params :position) 0))
                     (bigcode-ls--notify :bigcode/didShowCompletion (list :uri uri :text text)))
                   (bigcode-ls--show-items texts)))))))
       :error-fn #'ignore
       :timeout-fn #'ignore
       :deferred :textDocument/inlineCompletion))))

(defvar-local bigcode-ls--rest-timer nil)
(defvar-local bigcode-ls--last-place nil
  "(point . modification tick) after the last command, to tell moves from typing.")

(defun bigcode-ls--post-command ()
  "After a command that moved point without changing the text, tell the server where
point rests once it has stayed there for `bigcode-ls-rest-delay' seconds."
  (let ((place (cons (point) (buffer-chars-modified-tick)))
        (last bigcode-ls--last-place))
    (setq bigcode-ls--last-place place)
    (when (and bigcode-ls-rest-delay last
               (/= (car place) (car last)) (= (cdr place) (cdr last)))
      (when (timerp bigcode-ls--rest-timer)
        (cancel-timer bigcode-ls--rest-timer))
      (let ((buffer (current-buffer)))
        (setq bigcode-ls--rest-timer
              (run-with-timer bigcode-ls-rest-delay nil #'bigcode-ls--rested buffer place))))))

(defun bigcode-ls--rested (buffer place)
  "Send `bigcode/didMoveCursor' if BUFFER's point is still at PLACE."
  (when (buffer-live-p buffer)
    (with-current-buffer buffer
      (when (and (equal place (cons (point) (buffer-chars-modified-tick)))
                 (bigcode-ls--serves-here-p)
                 (bigcode-ls--server))
        (bigcode-ls--flush)
        (bigcode-ls--notify :bigcode/didMoveCursor
                            (list :textDocument (bigcode-ls--document-at-version)
                                  :position (bigcode-ls--point-position)))))))

(defun bigcode-ls--schedule (&rest _)
  "Ask for a suggestion once Emacs has been idle for `bigcode-ls-idle-delay'."
  (unless bigcode-ls--keep-once
    (bigcode-ls--schedule-now)))

(defun bigcode-ls--schedule-now ()
  "Clear the suggestion and ask again after the idle delay."
  (bigcode-ls-clear)
  (when (timerp bigcode-ls--timer)
    (cancel-timer bigcode-ls--timer))
  (let ((buffer (current-buffer)))
    (setq bigcode-ls--timer
          (run-with-idle-timer bigcode-ls-idle-delay nil
                               (lambda ()
                                 (when (buffer-live-p buffer)
                                   (with-current-buffer buffer
                                     (bigcode-ls-request))))))))

(defun bigcode-ls-accept ()
  "Insert the suggestion shown; return non-nil if there was one."
  (interactive)
  (when (bigcode-ls-visible-p)
    (let ((text bigcode-ls--text))
      (bigcode-ls-clear t)
      (bigcode-ls--took text)        ; before the insert, whose change asks anew
      (insert text)
      t)))

(defvar-local bigcode-ls--keep-once nil
  "Non-nil while a partial accept inserts text: that change keeps the rest shown.")

(defun bigcode-ls--accept-part (regexp)
  "Insert the start of the suggestion that REGEXP matches; keep the rest shown."
  (when (bigcode-ls-visible-p)
    (let* ((text bigcode-ls--text)
           (part (if (string-match regexp text) (match-string 0 text) text))
           (part (if (string-empty-p part) (substring text 0 1) part)))
      (bigcode-ls-clear t)
      (bigcode-ls--took part)
      (let ((bigcode-ls--keep-once t))
        (insert part))
      (when (< (length part) (length text))
        (bigcode-ls--show (substring text (length part))))
      t)))

(defun bigcode-ls-accept-word ()
  "Insert the suggestion's next word (and what precedes it); keep the rest shown."
  (interactive)
  (bigcode-ls--accept-part "\\`[[:space:][:punct:]]*[[:alnum:]_]+"))

(defun bigcode-ls-accept-line ()
  "Insert the rest of the suggestion's current line; keep the rest shown."
  (interactive)
  (bigcode-ls--accept-part "\\`[^\n]*\n?"))

(defun bigcode-ls-accept-or-indent ()
  "Accept the suggestion if one is shown, else do what TAB usually does."
  (interactive)
  (unless (bigcode-ls-accept)
    (let ((bigcode-ls-inline-mode nil))
      (call-interactively (key-binding (kbd "TAB"))))))

(defvar-local bigcode-ls--items nil
  "The ranked suggestions offered at this place, and the one shown: (TEXTS . INDEX).")

(defun bigcode-ls--show-items (texts)
  "Show the first of TEXTS, the ranked suggestions offered at point."
  (bigcode-ls--show (car texts))
  (setq bigcode-ls--items (cons texts 0)))

(defun bigcode-ls--cycle (step)
  "Show the suggestion STEP places on from the one shown (wrapping); nil if none."
  (let ((texts (car bigcode-ls--items)))
    (when (and (bigcode-ls-visible-p) (> (length texts) 1))
      (let* ((index (mod (+ (cdr bigcode-ls--items) step) (length texts)))
             (text (nth index texts)))
        (bigcode-ls--show text)
        (setq bigcode-ls--items (cons texts index))
        (when bigcode-ls--origin
          (setcar (cdr bigcode-ls--origin) text)
          (bigcode-ls--notify :bigcode/didShowCompletion
                              (list :uri (car bigcode-ls--origin) :text text)))
        t))))

(defun bigcode-ls-next-suggestion ()
  "Show the next of the suggestions offered here."
  (interactive)
  (bigcode-ls--cycle 1))

(defun bigcode-ls-previous-suggestion ()
  "Show the previous of the suggestions offered here."
  (interactive)
  (bigcode-ls--cycle -1))

(defun bigcode-ls--pre-command ()
  "Clear the suggestion before any command but accepting or cycling it."
  (unless (memq this-command '(bigcode-ls-accept bigcode-ls-accept-or-indent
                               bigcode-ls-accept-word bigcode-ls-accept-line
                               bigcode-ls-next-suggestion bigcode-ls-previous-suggestion))
    (bigcode-ls-clear)))

(defvar bigcode-ls-inline-mode-map
  (let ((map (make-sparse-keymap)))
    (define-key map (kbd "TAB") #'bigcode-ls-accept-or-indent)
    (define-key map (kbd "<tab>") #'bigcode-ls-accept-or-indent)
    (define-key map (kbd "M-<right>") #'bigcode-ls-accept-word)
    (define-key map (kbd "M-<down>") #'bigcode-ls-accept-line)
    (define-key map (kbd "M-]") #'bigcode-ls-next-suggestion)
    (define-key map (kbd "M-[") #'bigcode-ls-previous-suggestion)
    (define-key map (kbd "M-n") #'bigcode-ls-next-edit-jump)
    (define-key map (kbd "M-RET") #'bigcode-ls-next-edit-accept)
    map)
  "Keys of `bigcode-ls-inline-mode'.")

;;;; Next edits

(defvar-local bigcode-ls--next-edit nil
  "The next edit shown: (OVERLAY TEXT TICK).")
(defvar-local bigcode-ls--next-timer nil)

(defun bigcode-ls-next-edit-clear ()
  "Remove the next edit shown, if any."
  (when bigcode-ls--next-edit
    (delete-overlay (car bigcode-ls--next-edit))
    (setq bigcode-ls--next-edit nil)))

(defun bigcode-ls--show-next-edit (edit)
  "Show EDIT (an LSP inline edit) where it would go."
  (bigcode-ls-next-edit-clear)
  (let* ((range (plist-get edit :range))
         (beg (bigcode-ls--lsp-point (plist-get range :start)))
         (end (bigcode-ls--lsp-point (plist-get range :end)))
         (text (plist-get edit :text))
         (ov (make-overlay beg end nil t nil))
         (label (propertize (concat " → " (replace-regexp-in-string "\n" "⏎" text) " ")
                            'face 'bigcode-ls-ghost-face)))
    (overlay-put ov 'face 'bigcode-ls-next-edit-face)
    (overlay-put ov (if (= beg end) 'before-string 'after-string) label)
    (overlay-put ov 'bigcode-ls-next-edit t)
    (setq bigcode-ls--next-edit (list ov text (buffer-chars-modified-tick)))))

(defun bigcode-ls-next-edit-request ()
  "Ask the server for the edit you will make next, and show it."
  (interactive)
  (when-let ((server (and (bigcode-ls--serves-here-p) (bigcode-ls--server))))
    (bigcode-ls--flush)
    (let ((buffer (current-buffer))
          (tick (buffer-chars-modified-tick))
          (params (bigcode-ls--position-params)))
      (jsonrpc-async-request
       server :textDocument/copilotInlineEdit params
       :success-fn
       (lambda (result)
         (when (buffer-live-p buffer)
           (with-current-buffer buffer
             (let ((edit (seq-first (plist-get result :edits))))
               (when (and edit (= tick (buffer-chars-modified-tick)))
                 (bigcode-ls--show-next-edit edit))))))
       :error-fn #'ignore :timeout-fn #'ignore))))

(defun bigcode-ls--schedule-next-edit (&rest _)
  "After a change: clear the next edit shown; ask again once Emacs is idle."
  (bigcode-ls-next-edit-clear)
  (when (timerp bigcode-ls--next-timer)
    (cancel-timer bigcode-ls--next-timer))
  (when bigcode-ls-next-edit-delay
    (let ((buffer (current-buffer)))
      (setq bigcode-ls--next-timer
            (run-with-idle-timer bigcode-ls-next-edit-delay nil
                                 (lambda ()
                                   (when (buffer-live-p buffer)
                                     (with-current-buffer buffer
                                       (bigcode-ls-next-edit-request)))))))))

(defun bigcode-ls-next-edit-jump ()
  "Move point to the next edit shown."
  (interactive)
  (when bigcode-ls--next-edit
    (goto-char (overlay-start (car bigcode-ls--next-edit)))
    t))

(defun bigcode-ls-next-edit-accept ()
  "Make the next edit shown (if the text is still what it was proposed for)."
  (interactive)
  (when-let ((shown bigcode-ls--next-edit))
    (pcase-let ((`(,ov ,text ,tick) shown))
      (let ((beg (overlay-start ov)) (end (overlay-end ov)))
        (bigcode-ls-next-edit-clear)
        (when (= tick (buffer-chars-modified-tick))
          (save-excursion
            (goto-char beg)
            (delete-region beg end)
            (insert text))
          t)))))

;;;; The server's state in the mode line

(defvar bigcode-ls--state 'unknown
  "What the server last said of its model: `loading', `ready', or an error string.")
(defvar bigcode-ls--status-timer nil)

(defvar bigcode-ls--advice nil
  "What the server advises about its model (a download), shown as the mode line's help.")

(defun bigcode-ls--note-status (status)
  "Record STATUS, a `bigcode/status' reply, for the mode line."
  (setq bigcode-ls--state
        (cond ((plist-get status :model) 'ready)
              ((stringp (plist-get status :loadError)) (plist-get status :loadError))
              (t 'loading)))
  (let ((advice (plist-get status :advice))
        (languages (plist-get status :languages)))
    (setq bigcode-ls--advice (and (stringp advice) advice))
    (when (and (plist-get status :model) (vectorp languages))
      (setq bigcode-ls--languages (append languages nil))))
  (force-mode-line-update t))

(defun bigcode-ls--lighter ()
  "The mode line text: the model's state when it is not simply ready."
  (pcase bigcode-ls--state
    ('loading " bigcode[loading]")
    ((pred stringp) (propertize " bigcode[error]" 'help-echo bigcode-ls--state))
    (_ (if bigcode-ls--advice
           (propertize " bigcode[demo]" 'help-echo bigcode-ls--advice)
         " bigcode"))))

(defun bigcode-ls--poll-status ()
  "Ask the server how its model is, until it is ready (every second)."
  (if (eq bigcode-ls--state 'ready)
      (when (timerp bigcode-ls--status-timer)
        (cancel-timer bigcode-ls--status-timer)
        (setq bigcode-ls--status-timer nil))
    (when-let ((server (bigcode-ls--server)))
      (jsonrpc-async-request server :bigcode/status nil
                             :success-fn #'bigcode-ls--note-status
                             :error-fn #'ignore :timeout-fn #'ignore))))

;;;###autoload
(define-minor-mode bigcode-ls-inline-mode
  "Show bigcode-ls suggestions inline as you type; TAB accepts.
The mode line says when the model is still loading or failed to load."
  :lighter (:eval (bigcode-ls--lighter))
  :keymap bigcode-ls-inline-mode-map
  (if bigcode-ls-inline-mode
      (progn
        (add-hook 'after-change-functions #'bigcode-ls--schedule nil t)
        (add-hook 'after-change-functions #'bigcode-ls--schedule-next-edit nil t)
        (add-hook 'pre-command-hook #'bigcode-ls--pre-command nil t)
        (add-hook 'post-command-hook #'bigcode-ls--post-command nil t)
        (unless (or (eq bigcode-ls--state 'ready) (timerp bigcode-ls--status-timer))
          (setq bigcode-ls--status-timer (run-with-timer 0 1 #'bigcode-ls--poll-status))))
    (remove-hook 'after-change-functions #'bigcode-ls--schedule t)
    (remove-hook 'after-change-functions #'bigcode-ls--schedule-next-edit t)
    (bigcode-ls-next-edit-clear)
    (remove-hook 'pre-command-hook #'bigcode-ls--pre-command t)
    (remove-hook 'post-command-hook #'bigcode-ls--post-command t)
    (bigcode-ls-clear)))

;;;; Its own connection, beside eglot or lsp-mode

(defvar bigcode-ls--connection nil
  "The connection of `bigcode-ls-mode', one for all its buffers.")
(defvar-local bigcode-ls--change nil
  "(BEG END . LSP-RANGE) of the text a change is about to replace.")

(defconst bigcode-ls--language-ids
  '((python-mode . "python") (python-ts-mode . "python")
    (js-mode . "javascript") (js-ts-mode . "javascript") (js2-mode . "javascript")
    (typescript-mode . "typescript") (typescript-ts-mode . "typescript")
    (tsx-ts-mode . "typescriptreact") (go-mode . "go") (go-ts-mode . "go")
    (rust-mode . "rust") (rust-ts-mode . "rust") (java-mode . "java") (java-ts-mode . "java")
    (c-mode . "c") (c-ts-mode . "c") (c++-mode . "cpp") (c++-ts-mode . "cpp")
    (sh-mode . "shellscript") (emacs-lisp-mode . "emacs-lisp"))
  "Major modes whose LSP language id is not their name without \"-mode\".")

(defun bigcode-ls--language-id ()
  "The LSP language id of this buffer."
  (or (cdr (assq major-mode bigcode-ls--language-ids))
      (replace-regexp-in-string "\\(-ts\\)?-mode\\'" "" (symbol-name major-mode))))

(defun bigcode-ls--uri ()
  "The URI of this buffer: its file's, or an untitled one."
  (if buffer-file-name
      (concat "file://" (url-hexify-string (expand-file-name buffer-file-name)
                                           url-path-allowed-chars))
    (concat "untitled:" (url-hexify-string (buffer-name)))))

(defun bigcode-ls--lsp-position (pos)
  "The LSP position of POS; columns count characters (the utf-32 encoding asked for)."
  (save-restriction
    (widen)
    (save-excursion
      (goto-char pos)
      (list :line (1- (line-number-at-pos pos t)) :character (- pos (line-beginning-position))))))

(defun bigcode-ls--own-connection ()
  "The running connection of `bigcode-ls-mode', started (and initialized) if need be."
  (unless (and bigcode-ls--connection (jsonrpc-running-p bigcode-ls--connection))
    (let* ((process (make-process
                     :name "bigcode-ls" :command bigcode-ls-command :connection-type 'pipe
                     :coding 'utf-8-emacs-unix :noquery t
                     :stderr (get-buffer-create " *bigcode-ls stderr*")))
           (connection (make-instance 'jsonrpc-process-connection
                                      :name "bigcode-ls" :process process
                                      :events-buffer-scrollback-size 0
                                      :request-dispatcher #'ignore
                                      :notification-dispatcher #'ignore))
           (root (and (fboundp 'project-current) (project-current)
                      (expand-file-name (project-root (project-current))))))
      (jsonrpc-request
       connection :initialize
       (list :processId (emacs-pid)
             :rootUri (and root (concat "file://" (url-hexify-string (directory-file-name root) url-path-allowed-chars)))
             :capabilities (list :general (list :positionEncodings ["utf-32"]))
             :initializationOptions (list :bigcode (or bigcode-ls-settings '(:enable t)))))
      (jsonrpc-notify connection :initialized (make-hash-table))
      (setq bigcode-ls--connection connection
            bigcode-ls--languages nil)))
  bigcode-ls--connection)

(defun bigcode-ls--serves-here-p ()
  "Whether the server's model completes this buffer's language (on eglot: always)."
  (or (not bigcode-ls--own) (null bigcode-ls--languages)
      (member "*" bigcode-ls--languages)
      (member (bigcode-ls--language-id) bigcode-ls--languages)))

(defun bigcode-ls--did-open ()
  (setq bigcode-ls--version 0)
  (jsonrpc-notify (bigcode-ls--own-connection) :textDocument/didOpen
                  (list :textDocument
                        (list :uri (bigcode-ls--uri) :languageId (bigcode-ls--language-id)
                              :version 0
                              :text (save-restriction (widen) (buffer-substring-no-properties (point-min) (point-max)))))))

(defun bigcode-ls--did-close ()
  (when (and bigcode-ls--connection (jsonrpc-running-p bigcode-ls--connection))
    (jsonrpc-notify bigcode-ls--connection :textDocument/didClose
                    (list :textDocument (list :uri (bigcode-ls--uri))))))

(defun bigcode-ls--before-change (beg end)
  (setq bigcode-ls--change
        (cons beg (cons end (list :start (bigcode-ls--lsp-position beg)
                                  :end (bigcode-ls--lsp-position end))))))

(defun bigcode-ls--after-change (beg end old-length)
  "Send the change: BEG..END's text over the range recorded before it, or, where
Emacs announced another region than it changed, the whole text."
  (let* ((before bigcode-ls--change)
         (exact (and before (= (car before) beg) (= (cadr before) (+ beg old-length))))
         (change (if exact
                     (list :range (cddr before) :text (buffer-substring-no-properties beg end))
                   (list :text (save-restriction
                                 (widen)
                                 (buffer-substring-no-properties (point-min) (point-max)))))))
    (setq bigcode-ls--change nil)
    (jsonrpc-notify (bigcode-ls--own-connection) :textDocument/didChange
                    (list :textDocument (list :uri (bigcode-ls--uri)
                                              :version (cl-incf bigcode-ls--version))
                          :contentChanges (vector change)))))

;;;###autoload
(define-minor-mode bigcode-ls-mode
  "Ghost text from bigcode-ls in this buffer, on a connection of its own.
eglot or lsp-mode keep managing the buffer with your own language server; this mode
starts bigcode-ls (once for all buffers), keeps it in sync with the buffer and turns
on `bigcode-ls-inline-mode'.  A language the server's model does not complete gets
no requests."
  :lighter nil
  (if bigcode-ls-mode
      (progn
        (setq bigcode-ls--own t)
        (bigcode-ls--did-open)
        (add-hook 'before-change-functions #'bigcode-ls--before-change nil t)
        (add-hook 'after-change-functions #'bigcode-ls--after-change nil t)
        (add-hook 'kill-buffer-hook #'bigcode-ls--did-close nil t)
        (bigcode-ls-inline-mode 1))
    (bigcode-ls-inline-mode -1)
    (remove-hook 'before-change-functions #'bigcode-ls--before-change t)
    (remove-hook 'after-change-functions #'bigcode-ls--after-change t)
    (remove-hook 'kill-buffer-hook #'bigcode-ls--did-close t)
    (bigcode-ls--did-close)
    (setq bigcode-ls--own nil)))

(provide 'bigcode-ls)
;;; bigcode-ls.el ends here
