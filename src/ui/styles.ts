// The UI's one stylesheet, served as /ui/app.css (the CSP allows no inline styles). Colours meet WCAG AA contrast;
// status is never told by colour alone (each badge has its word). Below 760px the token table becomes cards.

export const APP_CSS = `
:root{--fg:#1b1f24;--muted:#57606a;--bg:#f6f8fa;--card:#fff;--line:#d0d7de;--accent:#0b5cd5;--accent-fg:#fff;
--danger:#b3261e;--focus:#0b5cd5;--ok-bg:#dafbe1;--ok-fg:#116329;--exp-bg:#ffebe9;--exp-fg:#a40e26;
--rev-bg:#fff1e5;--rev-fg:#953800;--radius:6px}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
h1{font-size:1.5rem;margin:0}h2{font-size:1.2rem;margin:0 0 .75rem}
a{color:var(--accent)}
:focus-visible{outline:3px solid var(--focus);outline-offset:2px}
[hidden]{display:none!important}
.skip-link{position:absolute;left:-999px;top:0;background:var(--card);padding:.5rem 1rem;z-index:10}
.skip-link:focus{left:.5rem}
.sr-only{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.muted,.hint{color:var(--muted)}
.hint{font-size:.85rem;margin:.25rem 0 0}
.topbar{display:flex;flex-wrap:wrap;align-items:center;gap:.5rem 1.25rem;padding:.6rem 1.25rem;background:#24292f;color:#fff}
.brand{font-weight:700;letter-spacing:.02em}
.tabs{display:flex;gap:.25rem;flex:1;flex-wrap:wrap}
.tabs a{color:#e6edf3;text-decoration:none;padding:.35rem .7rem;border-radius:var(--radius)}
.tabs a:hover{background:#32383f}
.tabs a[aria-current=page]{background:#fff;color:#24292f;font-weight:600}
.who{display:flex;align-items:center;gap:.6rem;font-size:.9rem;min-width:0;max-width:100%}
#whoami{overflow-wrap:anywhere;min-width:0}
.topbar .btn.subtle{color:#fff;border-color:#57606a;background:transparent}
main{max-width:1180px;margin:0 auto;padding:1.25rem}
main.narrow{max-width:560px}
.view-head{display:flex;flex-wrap:wrap;align-items:center;justify-content:space-between;gap:.75rem;margin:.5rem 0}
.lead{color:var(--muted);margin:.25rem 0 1rem;max-width:70ch}
.card{background:var(--card);border:1px solid var(--line);border-radius:var(--radius);padding:1.25rem}
.sign-in{margin-top:1rem}
.notice,.banner{background:#fff8c5;border:1px solid #d4a72c;border-radius:var(--radius);padding:.6rem .9rem}
.banner{margin:.75rem auto;max-width:1180px}
.btn{display:inline-flex;align-items:center;gap:.4rem;font:inherit;font-weight:500;padding:.4rem .9rem;min-height:2.25rem;
border:1px solid var(--line);border-radius:var(--radius);background:var(--card);color:var(--fg);cursor:pointer;text-decoration:none}
.btn:hover{background:#f3f4f6}
.btn.primary{background:var(--accent);border-color:var(--accent);color:var(--accent-fg)}
.btn.primary:hover{background:#0a4fb8}
.btn.danger{background:var(--danger);border-color:var(--danger);color:#fff}
.btn.danger-outline{color:var(--danger);border-color:#ff8182}
.btn.small{padding:.2rem .6rem;min-height:2rem;font-size:.875rem}
.btn.link{border-color:transparent;background:none;color:var(--accent);padding:0;min-height:0;text-decoration:underline}
.btn:disabled{opacity:.6;cursor:not-allowed}
.toolbar{display:flex;flex-wrap:wrap;gap:.75rem 1rem;align-items:flex-end;margin-bottom:.75rem}
.field{margin:0 0 1rem;border:0;padding:0;min-width:0}
.field.inline{margin:0}
.field label,.field legend{display:block;font-weight:600;margin-bottom:.25rem}
.field label.choice{font-weight:400;display:flex;gap:.5rem;align-items:center;margin:.25rem 0}
input[type=text],input[type=search],input[type=date],select,textarea{font:inherit;color:inherit;background:#fff;
border:1px solid #8c959f;border-radius:var(--radius);padding:.4rem .6rem;min-height:2.25rem;width:100%;max-width:100%}
.toolbar input,.toolbar select{width:auto;min-width:9rem}
textarea{resize:vertical;min-height:4.5rem}
[aria-invalid=true]{border-color:var(--danger);box-shadow:0 0 0 1px var(--danger)}
.field-error,.form-error{color:var(--danger);font-size:.875rem;margin:.3rem 0 0;font-weight:500}
.form-error{background:#ffebe9;border:1px solid #ff8182;border-radius:var(--radius);padding:.5rem .75rem;margin:0 0 1rem}
.counter{float:right;margin-top:.2rem}
.field-row{display:flex;gap:1rem;flex-wrap:wrap}.field-row .field{flex:1 1 12rem;margin-bottom:0}
.choices{display:flex;flex-wrap:wrap;gap:.25rem 1.25rem}
.table-wrap{background:var(--card);border:1px solid var(--line);border-radius:var(--radius);overflow-x:auto}
table{width:100%;border-collapse:collapse}
caption{text-align:left;padding:.6rem .9rem;color:var(--muted);font-size:.875rem}
th,td{text-align:left;padding:.55rem .75rem;border-top:1px solid var(--line);vertical-align:top}
th{font-size:.8rem;text-transform:uppercase;letter-spacing:.03em;color:var(--muted);background:#f6f8fa}
td.name strong{display:block;word-break:break-word}
td.desc{max-width:22rem;white-space:pre-line;word-break:break-word}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.85rem}
.row-actions{display:flex;flex-wrap:wrap;gap:.35rem}
.badge{display:inline-block;padding:.1rem .55rem;border-radius:999px;font-size:.8rem;font-weight:600;white-space:nowrap}
.badge::before{content:"";display:inline-block;width:.5rem;height:.5rem;border-radius:50%;background:currentColor;margin-right:.35rem;vertical-align:.05rem}
.status-active{background:var(--ok-bg);color:var(--ok-fg)}
.status-expired{background:var(--exp-bg);color:var(--exp-fg)}
.status-revoked{background:var(--rev-bg);color:var(--rev-fg)}
.status-inactive{background:#eaeef2;color:#424a53}
.empty{background:var(--card);border:1px dashed #8c959f;border-radius:var(--radius);padding:2rem 1rem;text-align:center}
.empty p{margin:.25rem 0 1rem}
.pager{display:flex;align-items:center;justify-content:flex-end;gap:.75rem;margin-top:.75rem}
.subview{margin-top:2rem;padding-top:1rem;border-top:2px solid var(--line)}
.toast{position:fixed;left:50%;bottom:1.25rem;transform:translateX(-50%);width:max-content;background:#1f883d;color:#fff;padding:.6rem 1rem;
border-radius:var(--radius);box-shadow:0 4px 12px rgba(0,0,0,.2);max-width:calc(100% - 2rem);z-index:5}
.toast:empty{display:none}
.toast.error{background:var(--danger)}
dialog{border:0;border-radius:10px;padding:1.5rem;width:min(36rem,calc(100% - 1.5rem));max-height:calc(100% - 1.5rem);
box-shadow:0 12px 40px rgba(0,0,0,.35);color:var(--fg)}
dialog::backdrop{background:rgba(27,31,36,.55)}
.actions{display:flex;justify-content:flex-end;gap:.6rem;margin-top:1.25rem;flex-wrap:wrap}
.warning{background:#fff8c5;border:1px solid #d4a72c;border-radius:var(--radius);padding:.6rem .8rem}
.copy-row{display:flex;gap:.5rem}
/* The whole token stays visible: the field grows to two lines on a phone instead of scrolling sideways. */
.copy-row .secret{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f6f8fa;resize:none;
word-break:break-all;min-height:0;field-sizing:content}
.copy-row .btn{align-self:flex-start}
.success{color:var(--ok-fg);font-weight:600;min-height:1.5em;margin:.5rem 0 0}
@media (max-width:760px){
main{padding:1rem .75rem}
.topbar{padding:.6rem .75rem}
.tabs{order:3;flex-basis:100%}
.who{margin-left:auto}
.toolbar .field.inline{flex:1 1 40%}
.toolbar input,.toolbar select{width:100%;min-width:0}
.table-wrap{background:none;border:0}
table,tbody,tr,td{display:block;width:100%}
thead{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
caption{display:block;padding:0 0 .5rem}
tr{background:var(--card);border:1px solid var(--line);border-radius:var(--radius);margin-bottom:.75rem;padding:.4rem .75rem}
td{border:0;padding:.3rem 0;display:grid;grid-template-columns:8.5rem 1fr;gap:.5rem;max-width:none;justify-items:start}
td::before{content:attr(data-label);font-weight:600;color:var(--muted);font-size:.85rem}
td.name{display:block}td.name::before{content:none}
td.act{display:block;padding-top:.5rem}td.act::before{content:none}
dialog{padding:1.1rem}
}
`;
