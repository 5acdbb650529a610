;;; kernelbridge-tests.el --- ert tests against a real daemon and ipykernel  -*- lexical-binding: t; -*-

;;; Commentary:

;; Run by editors/emacs/test.  Every wait is an `accept-process-output'
;; loop with a deadline; no test sleeps.  One daemon and one python3
;; kernel are shared by the tests (started by the first that needs them);
;; the kernel-death test starts its own kernel, the daemon-death test runs
;; last, after the REPL buffer was saved to test-output/repl.txt.

;;; Code:

(require 'ert)
(require 'python)
(require 'kernelbridge)

(defvar kbt--buffer nil "The shared source buffer.")
(defvar kbt--kernel nil "The shared kernel id.")
(defvar kbt--dir (make-temp-file "kbt-src" t))

(defun kbt-wait (pred what &optional timeout)
  "Wait until PRED is non-nil (up to TIMEOUT s, default 30) or fail naming WHAT."
  (let ((deadline (+ (float-time) (or timeout 30))) value)
    (while (and (not (setq value (funcall pred))) (< (float-time) deadline))
      (accept-process-output nil 0.02))
    (or value (ert-fail (format "timed out waiting for %s" what)))))

(defun kbt-kernel ()
  "The shared kernel, started once from the shared source buffer."
  (unless (and kbt--kernel (kernelbridge--kernel kbt--kernel))
    (setq kbt--buffer (find-file-noselect (expand-file-name "demo.py" kbt--dir)))
    (with-current-buffer kbt--buffer
      (python-mode)
      (kernelbridge-mode 1)
      (let (kid)
        (kernelbridge-start "python3" (lambda (id) (setq kid id)))
        (kbt-wait (lambda () kid) "the kernel to start" 90)
        (setq kbt--kernel kid))))
  kbt--kernel)

(defun kbt-source (text &optional point-at)
  "The shared source buffer holding TEXT, point at the end or after POINT-AT."
  (kbt-kernel)
  (with-current-buffer kbt--buffer
    (erase-buffer)
    (insert text)
    (goto-char (if point-at
                   (progn (goto-char (point-min)) (search-forward point-at))
                 (point-max))))
  kbt--buffer)

(defun kbt-repl-text (&optional kid)
  (with-current-buffer (kernelbridge--repl-buffer (or kid kbt--kernel))
    (buffer-substring-no-properties (point-min) (point-max))))

(defun kbt-run (code &optional buffer)
  "Execute CODE from BUFFER (default the shared one); wait; return its record."
  (let* ((buf (or buffer (kbt-source "")))
         (eid (with-current-buffer buf (kernelbridge-execute code))))
    (kbt-wait (lambda () (plist-get (gethash eid kernelbridge--executions) :done))
              (format "execution of %S" code) 60)
    (gethash eid kernelbridge--executions)))

(defun kbt-idle ()
  (kbt-wait (lambda () (equal (kernelbridge--state (kbt-kernel)) "idle")) "idle kernel"))

(defun kbt-messages ()
  (with-current-buffer (messages-buffer) (buffer-string)))

;;;; Pure functions

(ert-deftest kb-terminal-semantics ()
  "\\r overwrites the line, \\b moves back, \\n ends the line."
  (should (equal (kernelbridge--terminal "" 0 "a\nb") '("a\n" "b" 1)))
  (should (equal (kernelbridge--terminal "" 0 "\r0/2\r1/2\r2/2 ok\n") '("2/2 ok\n" "" 0)))
  (should (equal (kernelbridge--terminal "hello" 5 "\rJ") '("" "Jello" 1)))
  (should (equal (kernelbridge--terminal "abc" 3 "\b\bX") '("" "aXc" 2)))
  (should (equal (kernelbridge--terminal "" 0 "x\r\n") '("x\n" "" 0))))

;;;; Notifications, without the daemon

(ert-deftest kb-unresponsive-status ()
  "An unresponsive kernel is shown with a warning face; a message when it
becomes unresponsive and one when it answers again."
  (let* ((kid "0123456789abcdef0123456789abcdef")
         (said nil)
         (real-message (symbol-function 'message))
         (status (lambda (state &rest more)
                   (apply #'kernelbridge-handle-notification nil 'kernelbridge/status
                          :kernelId kid :state state more)))
         (face-of-state (lambda (lighter)
                          (get-text-property (1+ (string-match "\\[" lighter))
                                             'face lighter)))
         (reason "the kernel stopped answering its heartbeat \
(its process is alive: stopped, frozen or overloaded)"))
    (unwind-protect
        (cl-letf (((symbol-function 'message)
                   (lambda (fmt &rest args)
                     (push (apply #'format-message fmt args) said)
                     (apply real-message fmt args))))
          (with-temp-buffer
            (kernelbridge--store-kernel (list :kernelId kid :kernelspec "python3" :state "idle"))
            (setq-local kernelbridge--kernel-id kid)
            (should (equal (kernelbridge--lighter) " KB:python3 [idle]"))
            (funcall status "unresponsive" :reason reason)
            (funcall status "unresponsive" :reason reason) ; said once only
            (let ((lighter (kernelbridge--lighter)))
              (should (equal lighter " KB:python3 [unresponsive]"))
              (should (eq (funcall face-of-state lighter) 'kernelbridge-unresponsive)))
            (should (equal (length said) 1))
            (should (string-match-p
                     "^kernelbridge: kernel python3 01234567 is unresponsive: the kernel stopped \
answering its heartbeat .*kernelbridge-restart"
                     (car said)))
            ;; its heartbeat answers again: the state before is sent again
            (funcall status "idle")
            (let ((lighter (kernelbridge--lighter)))
              (should (equal lighter " KB:python3 [idle]"))
              (should-not (funcall face-of-state lighter)))
            (should (equal (length said) 2))
            (should (equal (car said) "kernelbridge: kernel python3 01234567 answers again (idle)"))
            ;; a busy of an execution also ends it
            (funcall status "unresponsive" :reason reason)
            (funcall status "busy" :executionId "01234567-9")
            (should (equal (kernelbridge--lighter) " KB:python3 [busy]"))
            (should (equal (length said) 4))
            (should (equal (car said) "kernelbridge: kernel python3 01234567 answers again (busy)"))
            (funcall status "idle" :executionId "01234567-9")
            (should (equal (length said) 4))))
      (remhash kid kernelbridge--kernels)
      (remhash "01234567-9" kernelbridge--executions))))

;;;; Against the daemon

(ert-deftest kb-start-and-mode-line ()
  "A kernel starts from a source buffer; REPL buffer and mode line show it."
  (let ((kid (kbt-kernel)))
    (should (stringp kid))
    (should (buffer-live-p (kernelbridge--repl-buffer kid t)))
    (with-current-buffer kbt--buffer
      (should (equal kernelbridge--kernel-id kid))
      (should (string-match-p "KB:python3 \\[idle\\]" (kernelbridge--lighter))))
    (should (string-match-p "^In \\[[0-9]+\\]: " (kbt-repl-text)))
    ;; M-x kernelbridge-start offers the kernelspecs with completing-read
    (let (offered)
      (cl-letf (((symbol-function 'completing-read)
                 (lambda (_prompt collection &rest _)
                   (setq offered (mapcar #'car collection))
                   (car offered))))
        (should (equal (advice-eval-interactive-spec
                        (cadr (interactive-form 'kernelbridge-start)))
                       '("python3"))))
      (should (member "Python 3 (ipykernel) (python3)" offered)))))

(ert-deftest kb-eval-region-prints ()
  "Evaluating a region shows its output in the REPL and the result in the echo area."
  (let ((buf (kbt-source "print('hello from region')\nx = 41 + 1\nx\n")))
    (with-current-buffer buf
      (let ((rec (kbt-run (buffer-substring-no-properties (point-min) (point-max)) buf)))
        (should (equal (plist-get (plist-get rec :result) :status) "ok"))))
    (let ((text (kbt-repl-text)))
      (should (string-match-p "^In \\[[0-9]+\\]: print('hello from region')" text))
      (should (string-match-p "^hello from region$" text))
      (should (string-match-p "^Out\\[[0-9]+\\]: 42$" text)))
    ;; several lines of output: popup buffer, not the echo area
    (should (string-match-p "hello from region\n42"
                            (with-current-buffer "*kernelbridge output*" (buffer-string))))
    ;; one short line: echo area
    (kbt-run "6 * 7")
    (should (string-match-p "^=> 42\\( \\[[0-9]+ times\\]\\)?$" (kbt-messages)))))

(ert-deftest kb-eval-line-and-defun ()
  "Line and defun commands send what Emacs sees as the line and the defun."
  (with-current-buffer (kbt-source "def twice(v):\n    return 2 * v\n\ntwice(21)\n")
    (goto-char (point-min))
    (forward-line 1)
    (kernelbridge-eval-defun)
    (kbt-wait (lambda () (string-match-p "In \\[[0-9*]+\\]: def twice" (kbt-repl-text))) "defun")
    (kbt-idle)
    (goto-char (point-min))
    (forward-line 3)
    (let ((before (length (kbt-repl-text))))
      (kernelbridge-eval-line)
      (kbt-wait (lambda () (string-match-p "Out\\[[0-9]+\\]: 42"
                                           (substring (kbt-repl-text) before)))
                "the line's result"))))

(ert-deftest kb-stream-carriage-return ()
  "A progress bar written with \\r ends as its last frame in the REPL."
  (kbt-run (concat "import sys, time\n"
                   "for i in range(5):\n"
                   "    sys.stdout.write(f'\\rstep {i}/4'); sys.stdout.flush(); time.sleep(0.06)\n"
                   "print(' done')\n"
                   "print('err line', file=sys.stderr)"))
  (let ((text (kbt-repl-text)))
    (should (string-match-p "^step 4/4 done$" text))
    (should-not (string-match-p "step [0-3]/4" text))
    (should (string-match-p "^err line$" text))))

(ert-deftest kb-error-traceback ()
  "Tracebacks are readable (ANSI turned into faces) and echoed."
  (let ((rec (kbt-run "def f():\n    return 1/0\nf()")))
    (should (equal (plist-get (plist-get rec :result) :status) "error")))
  (let ((text (kbt-repl-text)))
    (should (string-match-p "ZeroDivisionError" text))
    (should-not (string-match-p "\e\\[" text)))
  (should (string-match-p "ZeroDivisionError: division by zero" (kbt-messages))))

(ert-deftest kb-completion-capf ()
  "completion-at-point completes through kernelbridge/complete."
  (kbt-idle)
  (with-current-buffer (kbt-source "import os\nos.getcw")
    (let ((capf (kernelbridge-completion-at-point)))
      (should capf)
      (should (member "getcwd" (all-completions "getcw" (nth 2 capf))))
      (should (equal (buffer-substring (nth 0 capf) (nth 1 capf)) "getcw")))
    (completion-at-point)
    (should (string-suffix-p "os.getcwd" (buffer-string))))
  ;; non-ASCII text before the cursor: code points, not bytes or UTF-16
  (with-current-buffer (kbt-source "s = '😀é'; import os\nos.pa")
    (let ((capf (kernelbridge-completion-at-point)))
      (should (equal (buffer-substring (nth 0 capf) (nth 1 capf)) "pa"))
      (should (member "path" (nth 2 capf))))))

(ert-deftest kb-inspect-help-buffer ()
  "Inspect shows the kernel's help in *kernelbridge help*, with back history."
  (kbt-idle)
  (with-current-buffer (kbt-source "len" "len")
    (kernelbridge-inspect))
  (with-current-buffer "*kernelbridge help*"
    (should (derived-mode-p 'help-mode))
    (should (string-match-p "Return the number of items" (buffer-string)))
    (should-not (string-match-p "\e\\[" (buffer-string))))
  (with-current-buffer (kbt-source "print" "print")
    (kernelbridge-inspect))
  (with-current-buffer "*kernelbridge help*"
    (should (string-match-p "Prints the values" (buffer-string)))
    (help-go-back)
    (should (string-match-p "Return the number of items" (buffer-string))))
  ;; eldoc: the signature line, through the callback
  (let (doc)
    (with-current-buffer (kbt-source "len" "len")
      (kernelbridge-eldoc-function (lambda (s &rest _) (setq doc s))))
    (kbt-wait (lambda () doc) "eldoc")
    (should (string-match-p "len(obj" doc))))

(ert-deftest kb-input-prompt ()
  "input() and getpass() are answered through `kernelbridge-read-input-function'."
  (let* ((asked nil)
         (kernelbridge-read-input-function
          (lambda (prompt password)
            (push (cons prompt password) asked)
            (if password "s3cret" "Ada"))))
    (kbt-run (concat "name = input('name: ')\nprint('Hello', name)\n"
                     "import getpass\npw = getpass.getpass('pw: ')\nprint('pw length', len(pw))"))
    (should (equal (reverse asked) '(("name: ") ("pw: " . t))))
    (let ((text (kbt-repl-text)))
      (should (string-match-p "^name: Ada$" text))
      (should (string-match-p "^Hello Ada$" text))
      (should (string-match-p "^pw: \\*+$" text))
      (should (string-match-p "^pw length 6$" text))
      (should-not (string-match-p "s3cret" text)))))

(ert-deftest kb-input-cancelled-by-interrupt ()
  "An unanswered input() is cancelled ($/cancelRequest) by an interrupt."
  (let* ((reading nil) (answered nil) (buf (kbt-source ""))
         (kernelbridge-read-input-function
          (lambda (_prompt _password)
            (setq reading t)
            ;; Stand-in for a user who, at the prompt, interrupts the kernel
            ;; from the source buffer, then waits for the daemon's cancel.
            (with-current-buffer buf (kernelbridge-interrupt))
            (kbt-wait (lambda () (null (hash-table-keys kernelbridge--inputs)))
                      "the input request to be cancelled")
            (setq answered t)
            "late")))
    (let ((eid (with-current-buffer buf (kernelbridge-execute "input('never: ')"))))
      (kbt-wait (lambda () (plist-get (gethash eid kernelbridge--executions) :done))
                "the interrupted execution")
      (kbt-wait (lambda () answered) "the reader to return")
      (should reading)
      (should (equal (plist-get (plist-get (gethash eid kernelbridge--executions) :result)
                                :status)
                     "error")))))

(ert-deftest kb-interrupt-busy-loop ()
  "kernelbridge-interrupt stops a busy loop with KeyboardInterrupt."
  (let* ((buf (kbt-source ""))
         (eid (with-current-buffer buf
                (kernelbridge-execute
                 "import time\nprint('looping', flush=True)\nwhile True:\n    time.sleep(0.05)"))))
    (kbt-wait (lambda () (string-match-p "^looping$" (kbt-repl-text))) "the loop to start")
    (should (equal (kernelbridge--state kbt--kernel) "busy"))
    (with-current-buffer buf
      (should (string-match-p "\\[busy\\]" (kernelbridge--lighter)))
      (kernelbridge-interrupt))
    (kbt-wait (lambda () (plist-get (gethash eid kernelbridge--executions) :done))
              "the interrupted execution")
    (let ((result (plist-get (gethash eid kernelbridge--executions) :result)))
      (should (equal (plist-get result :status) "error"))
      (should (equal (plist-get (plist-get result :error) :ename) "KeyboardInterrupt")))
    (should (string-match-p "KeyboardInterrupt" (kbt-repl-text)))))

(ert-deftest kb-image-output ()
  "Images (png from matplotlib, svg) are inserted from the daemon's files.
Batch emacs-nox has no image support: then the alt text with the file
path is inserted and carries `kernelbridge-image-file'; with image
support the text also has an image `display' property."
  (kbt-run (concat "import matplotlib\nmatplotlib.use('module://matplotlib_inline.backend_inline')\n"
                   "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()\n"
                   "from IPython.display import SVG, display\n"
                   "display(SVG('<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\">"
                   "<rect width=\"10\" height=\"10\"/></svg>'))"))
  (with-current-buffer (kernelbridge--repl-buffer kbt--kernel)
    (dolist (mime '("image/png" "image/svg+xml"))
      (goto-char (point-min))
      (should (re-search-forward (format "\\[%s: \\(/[^]]+\\)\\]" (regexp-quote mime)) nil t))
      (let ((file (match-string 1)) (pos (match-beginning 0)))
        (should (file-exists-p file))
        (should (equal (get-text-property pos 'kernelbridge-image-file) file))
        (if (image-type-available-p (kernelbridge--image-type mime))
            (should (eq (car-safe (get-text-property pos 'display)) 'image))
          (message "kb-image-output: no %s support in this Emacs; checked the path text" mime))))))

(ert-deftest kb-repl-input ()
  "RET in the REPL: newline while isComplete says incomplete, else run; M-p history."
  (kbt-idle)
  (with-current-buffer (kernelbridge--repl-buffer kbt--kernel)
    (goto-char (point-max))
    (insert "for i in range(2):")
    (kernelbridge-repl-return)
    ;; incomplete: a newline (and the kernel's indent) was inserted, nothing ran
    (should (string-match-p "for i in range(2):\n    \\'"
                            (buffer-substring kernelbridge--repl-input-start (point-max))))
    (insert "print('repl', i * 10)")
    (kernelbridge-repl-return)
    (unless (string-blank-p (buffer-substring kernelbridge--repl-input-start (point-max)))
      (kernelbridge-repl-return))
    (kbt-wait (lambda () (string-match-p "^repl 10$" (kbt-repl-text))) "the REPL loop output")
    (kbt-idle)
    (kernelbridge-repl-previous-input 1)
    (should (string-match-p "\\`for i in range(2):"
                            (buffer-substring kernelbridge--repl-input-start (point-max))))
    (delete-region kernelbridge--repl-input-start (point-max))
    ;; completion in the REPL input
    (insert "import os; os.getcw")
    (let ((capf (kernelbridge-completion-at-point)))
      (should (member "getcwd" (nth 2 capf))))
    (delete-region kernelbridge--repl-input-start (point-max))
    ;; the prompt is read-only, the history too
    (should-error (progn (goto-char (point-min)) (insert "x")) :type 'text-read-only)))

(ert-deftest kb-cells-and-diagnostics ()
  "executeCell runs the cell at point (the daemon cuts cells); errors mark their line."
  (with-current-buffer (kbt-source "# %% setup\nc = 1\n\n# %% use\nprint('cell use', c + 1)\n\n# %% bad\nc = 2\nraise ValueError('bad cell')\n")
    (goto-char (point-min))
    (let (result)
      (kernelbridge-eval-cell (lambda (r) (setq result r)))
      (kbt-wait (lambda () result) "executeCell of the setup cell"))
    (search-forward "print")
    (let (result)
      (kernelbridge-eval-cell (lambda (r) (setq result r)))
      (kbt-wait (lambda () result) "executeCell")
      (should (equal (plist-get result :status) "ok")))
    (should (string-match-p "^cell use 2$" (kbt-repl-text)))
    (let (result)
      (search-forward "raise")
      (kernelbridge-eval-cell (lambda (r) (setq result r)))
      (kbt-wait (lambda () result) "executeCell of the bad cell")
      (should (equal (plist-get result :status) "error")))
    (kbt-wait (lambda () (seq-find (lambda (o) (overlay-get o 'kernelbridge-diagnostic))
                                   (overlays-in (point-min) (point-max))))
              "the diagnostic")
    (let ((ov (seq-find (lambda (o) (overlay-get o 'kernelbridge-diagnostic))
                        (overlays-in (point-min) (point-max)))))
      (should (equal (buffer-substring (overlay-start ov) (overlay-end ov))
                     "raise ValueError('bad cell')"))
      (should (equal (overlay-get ov 'help-echo) "ValueError: bad cell")))))

(ert-deftest kb-kernel-death-and-restart ()
  "A kernel that dies is reported clearly, and restart brings it back."
  (let ((buf (find-file-noselect (expand-file-name "dies.py" kbt--dir))) kid)
    (with-current-buffer buf
      (python-mode)
      (kernelbridge-mode 1)
      (kernelbridge-start "python3" (lambda (id) (setq kid id)))
      (kbt-wait (lambda () kid) "the second kernel" 90)
      (kbt-run "import os; os._exit(3)" buf)
      (kbt-wait (lambda () (equal (kernelbridge--state kid) "dead")) "the dead status")
      (should (string-match-p "kernel python3 [0-9a-f]+ died" (kbt-messages)))
      (should (string-match-p "\\[kernel died" (kbt-repl-text kid)))
      (should (string-match-p "\\[dead\\]" (kernelbridge--lighter)))
      (kernelbridge-restart)
      (kbt-wait (lambda () (string-match-p "\\[kernel restarted\\]" (kbt-repl-text kid)))
                "the restart" 60)
      (should (equal (kernelbridge--state kid) "idle"))
      (should (equal (plist-get (plist-get (kbt-run "1 + 1" buf) :result) :status) "ok"))
      (kernelbridge-shutdown-kernel)
      (kbt-wait (lambda () (null (kernelbridge--kernel kid))) "the shutdown"))
    (kill-buffer buf)))

(ert-deftest kb-daemon-death ()
  "When the daemon dies the user is told, and the next command starts a new one."
  :tags '(daemon-death)
  (kbt-kernel)
  (let ((proc (jsonrpc--process kernelbridge--connection)))
    (signal-process proc 'KILL)
    (kbt-wait (lambda () (null kernelbridge--connection)) "the sentinel")
    (should (string-match-p "daemon exited unexpectedly" (kbt-messages)))
    (should (string-match-p "daemon exited: this kernel is gone" (kbt-repl-text)))
    (should (= 0 (hash-table-count kernelbridge--kernels)))
    (should (kernelbridge--request :kernelbridge/kernels nil 30))))

;;;; Runner

(defun kernelbridge-test-run ()
  "Run the tests, save the REPL buffer, run the daemon-death test, exit."
  (let* ((stats (ert-run-tests-batch '(not (tag daemon-death))))
         (failed (ert-stats-completed-unexpected stats))
         (out (getenv "KERNELBRIDGE_TEST_OUTPUT")))
    (when (and out kbt--kernel (kernelbridge--repl-buffer kbt--kernel t))
      (with-current-buffer (kernelbridge--repl-buffer kbt--kernel t)
        (write-region (point-min) (point-max) (expand-file-name "repl.txt" out)))
      (message "REPL buffer saved to %s" (expand-file-name "repl.txt" out)))
    (let ((stats2 (ert-run-tests-batch '(tag daemon-death))))
      (setq failed (+ failed (ert-stats-completed-unexpected stats2))))
    (kernelbridge-shutdown-daemon)
    (kill-emacs (if (zerop failed) 0 1))))

;;; kernelbridge-tests.el ends here
