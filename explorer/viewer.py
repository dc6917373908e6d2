"""The rollout viewer: self-contained HTML pages of recorded episodes (no network, no CDN).

Pure: episode dicts in, an HTML string out. The CSS and the script are inline and the data is
embedded as JSON; the page builds its DOM from that JSON in the browser. Two pages:
- `eval_page`: one row per question (type, question, answer against the gold answer, F1, tokens
  read); a row opens into the chunk previews, what the policy opened in which order and at what
  cost, its notes, and the full text of what it opened. Filters: question type, right/wrong (EM),
  a text search; the URL hash holds them (`viewer.html#type=comparison&result=wrong`,
  `&open=all` opens every shown row, `&open=<task id>` one).
- `grpo_page`: one GRPO step, its groups side by side: per question the rollouts with their
  rewards and group advantages (a group whose rewards are all equal is dropped by the loop and
  shown as such). Hash: `#group=3`, `#kept=1`.
The output is a pure function of the input (sorted keys, no time stamps), so pages written into
DVC-tracked folders stay byte-reproducible.
"""

from __future__ import annotations

import html
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from explorer.cues import chunk_cues, marks_listed


def task_view(task: Mapping[str, Any], previews: str = "paragraph") -> dict[str, Any]:
    """What the viewer shows of a task (a `task_to_dict` dict): question, gold answers, the
    chunk previews (id, title, preview, tokens, gold?). With env.previews paragraph the agent saw
    one preview per paragraph: later chunks of a paragraph show no preview of their own; with
    paragraph+cues each chunk of a multi-chunk paragraph also shows the cue marks it was listed with."""
    gold = set(task.get("gold_chunk_ids", ()))
    seen: set[int] = set()
    chunks = []
    n_in_paragraph = Counter(c.get("paragraph") for c in task.get("chunks", ()))
    for c in task.get("chunks", ()):
        first = c.get("paragraph") not in seen
        seen.add(c.get("paragraph"))
        shown = c.get("preview", "") if previews == "chunk" or first else "(its paragraph's preview)"
        if marks_listed(previews, n_in_paragraph[c.get("paragraph")]):
            shown = f"[cues: {', '.join(chunk_cues(c.get('text', ''))) or 'none'}] {shown}"  # before the preview's "…"
        chunks.append([c["id"], c.get("title", ""), shown, c.get("n_tokens", 0), c["id"] in gold])
    return {
        "id": task["id"],
        "type": task.get("type", ""),
        "question": task.get("question", ""),
        "gold": [task.get("answer", ""), *task.get("answer_aliases", ())],
        "chunks": chunks,
    }


def episode_view(episode: Mapping[str, Any]) -> dict[str, Any]:
    """What the viewer shows of an episode (an `Episode.to_dict` dict): the answer, its scores
    and the steps (kind, chunk / note / answer text, cost, budget left, why it was refused)."""
    m = episode.get("metrics", {})
    steps = []
    for s in episode.get("steps", ()):
        a = s.get("action", {})
        arg = a.get("chunk_id", a.get("note", a.get("text", a.get("raw", ""))))
        steps.append([a.get("kind", "?"), arg, s.get("cost", 0), s.get("budget_left", 0), s.get("invalid")])
    return {
        "answer": episode.get("answer"),
        "f1": m.get("f1", 0.0),
        "em": m.get("em", 0.0),
        "reward": episode.get("reward", 0.0),
        "stop": episode.get("stop_reason", ""),
        "tokens": m.get("tokens_read", 0),
        "opens": m.get("opens", 0),
        "steps": steps,
    }


def opened_texts(task: Mapping[str, Any], episodes: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Full text of every chunk some episode opened (the page shows previews of the others)."""
    ids = {s["action"]["chunk_id"] for e in episodes for s in e.get("steps", ()) if s.get("action", {}).get("kind") == "open"}
    return {str(c["id"]): c.get("text", "") for c in task.get("chunks", ()) if c["id"] in ids}


def eval_record(line: Mapping[str, Any]) -> dict[str, Any]:
    """One line of an episodes.jsonl (an episode with its `task`) as the eval page's record."""
    previews = line.get("env_config", {}).get("previews", "paragraph")
    return {**task_view(line["task"], previews), **episode_view(line), "texts": opened_texts(line["task"], [line])}


def _page(title: str, kind: str, data: Mapping[str, Any]) -> str:
    payload = json.dumps({"kind": kind, **data}, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    payload = payload.replace("</", "<\\/").replace("<!--", "<\\!--")  # cannot end the script element
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{html.escape(title)}</title>"
        f"<style>{CSS}</style></head>\n<body><header><h1>{html.escape(title)}</h1><div id='summary'></div>"
        "<div id='controls'></div></header><main id='main'><noscript>This page needs JavaScript (no network).</noscript></main>\n"
        f"<script type='application/json' id='data'>{payload}</script>\n<script>{COMMON_JS}{EVAL_JS if kind == 'eval' else GRPO_JS}</script>\n"
        "</body></html>\n"
    )


def eval_page(title: str, lines: Sequence[Mapping[str, Any]], summary: Mapping[str, Any] | None = None) -> str:
    """The page of one evaluation: `lines` are the episodes.jsonl lines, `summary` the headline
    numbers shown on top (n, f1, em, avg_tokens_read, ...; the nested ones are left out)."""
    flat = {k: v for k, v in (summary or {}).items() if isinstance(v, int | float | str) and v is not None}
    return _page(title, "eval", {"summary": flat, "episodes": [eval_record(line) for line in lines]})


def grpo_page(title: str, step: int, groups: Sequence[Mapping[str, Any]], previews: str = "paragraph") -> str:
    """The page of one GRPO step. Each group: {"task": task dict, "episodes": [episode dicts],
    "rewards": [...], "advantages": [...] or None (dropped: all rewards equal)}. `previews`: the
    env.previews the rollouts ran with (what the chunk table shows as seen)."""
    out = []
    for g in groups:
        episodes = g["episodes"]
        adv = g.get("advantages")
        rollouts = [{**episode_view(e), "reward": float(r), "adv": None if adv is None else float(adv[i])}
                    for i, (e, r) in enumerate(zip(episodes, g["rewards"], strict=True))]  # fmt: skip
        out.append(
            {**task_view(g["task"], previews), "texts": opened_texts(g["task"], episodes), "kept": adv is not None, "rollouts": rollouts}
        )
    return _page(title, "grpo", {"step": step, "groups": out})


CSS = """
body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1d232a;background:#f6f7f9}
header{position:sticky;top:0;background:#fff;border-bottom:1px solid #d8dde3;padding:8px 16px;z-index:2}
h1{font-size:17px;margin:0 0 4px}main{padding:8px 16px}
#summary span{display:inline-block;margin-right:14px;color:#4a5561}#summary b{color:#1d232a}
#controls{margin-top:6px}#controls label{margin-right:14px}select,input{font:inherit;padding:2px 4px}
table{border-collapse:collapse;width:100%;background:#fff}th,td{padding:4px 6px;border-bottom:1px solid #e5e8ec;text-align:left;vertical-align:top}
th{background:#eef1f4;position:sticky;top:0}tr.ep{cursor:pointer}tr.ep:hover{background:#f0f5ff}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.right{color:#11703a;font-weight:600}.wrong{color:#b42318;font-weight:600}.partial{color:#a15c00;font-weight:600}
.badge{display:inline-block;font-size:12px;padding:0 6px;border-radius:8px;background:#e4e9f2;color:#34495e}
tr.detail>td{background:#fbfcfd;padding:10px 12px}.cols{display:flex;gap:18px;flex-wrap:wrap}.cols>div{flex:1 1 420px;min-width:0}
table.chunks td{font-size:13px}tr.opened{background:#eaf6ee}tr.gold td:first-child{border-left:3px solid #d4a017}
ol.steps{margin:4px 0;padding-left:22px}ol.steps li{margin:3px 0}.invalid{color:#b42318}.cost{color:#4a5561;font-size:12px}
.note{background:#fff8e1;padding:2px 6px;border-radius:4px}details>summary{cursor:pointer;color:#2457a6}
.chunktext{white-space:pre-wrap;background:#fff;border:1px solid #e5e8ec;padding:6px;margin:4px 0;font-size:13px}
.group{background:#fff;border:1px solid #d8dde3;border-radius:6px;margin:10px 0;padding:8px 10px}.group.dropped{opacity:.75}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(180px,1fr));gap:6px;margin-top:6px}
.rollout{border:1px solid #d8dde3;border-radius:5px;padding:5px 7px;font-size:12.5px;background:#fdfdfd}
.rollout.pos{background:#ecf8ef;border-color:#9fd3ae}.rollout.neg{background:#fdf0ef;border-color:#efb1aa}
.rollout .head{display:flex;justify-content:space-between;font-variant-numeric:tabular-nums}.muted{color:#6b7785}
"""

COMMON_JS = r"""
const DATA=JSON.parse(document.getElementById('data').textContent);
function el(tag,attrs,...kids){const e=document.createElement(tag);for(const [k,v] of Object.entries(attrs||{})){if(k==='text')e.textContent=v;else e.setAttribute(k,v);}
for(const k of kids){if(k!==null&&k!==undefined)e.append(k);}return e;}
function fmt(x,d){return (typeof x==='number')?x.toFixed(d===undefined?3:d):String(x);}
function hashState(){const s={};for(const part of location.hash.replace(/^#/,'').split('&')){if(!part)continue;const i=part.indexOf('=');
s[decodeURIComponent(i<0?part:part.slice(0,i))]=decodeURIComponent(i<0?'':part.slice(i+1));}return s;}
function setHash(s){const h=Object.entries(s).filter(([k,v])=>v!==''&&v!==undefined).map(([k,v])=>encodeURIComponent(k)+'='+encodeURIComponent(v)).join('&');
history.replaceState(null,'',h?'#'+h:location.pathname+location.search);}
function verdict(f1,em){return em>=1?['right','right']:(f1>0?['partial','partial']:['wrong','wrong']);}
function chunkTitle(chunks,id){const c=chunks.find(c=>c[0]===id);return c?c[1]:'?';}
function stepItem(st,chunks,texts){const [kind,arg,cost,left,invalid]=st;const li=el('li',invalid?{class:'invalid'}:{});
if(kind==='open'){li.append(el('b',{text:'open '}),'#'+arg+' ',el('i',{text:chunkTitle(chunks,arg)}));}
else if(kind==='summarize'){li.append(el('b',{text:'note '}),el('span',{class:'note',text:String(arg)}));}
else if(kind==='answer'){li.append(el('b',{text:'answer '}),'\u201c'+arg+'\u201d');}
else{li.append(el('b',{text:kind+' '}),String(arg));}
li.append(' ',el('span',{class:'cost',text:'\u2212'+cost+' tok, '+left+' left'}));
if(invalid)li.append(' ',el('span',{text:'refused: '+invalid}));
if(kind==='open'&&!invalid&&texts[String(arg)]!==undefined){const d=el('details',{},el('summary',{text:'text'}),el('div',{class:'chunktext',text:texts[String(arg)]}));li.append(d);}
return li;}
function chunkTable(ep,order){const t=el('table',{class:'chunks'});t.append(el('tr',{},el('th',{text:'#'}),el('th',{text:'title'}),el('th',{text:'preview (free)'}),el('th',{text:'tokens'}),el('th',{text:'opened'})));
for(const [id,title,preview,n,gold] of ep.chunks){const o=order.get(id);const cls=[o?'opened':'',gold?'gold':''].join(' ').trim();
t.append(el('tr',cls?{class:cls}:{},el('td',{class:'num',text:String(id)+(gold?' \u2605':'')}),el('td',{text:title}),el('td',{text:preview+'\u2026'}),
el('td',{class:'num',text:String(n)}),el('td',{class:'num',text:o?String(o):''})));}return t;}
function openOrder(steps){const m=new Map();let k=0;for(const st of steps){if(st[0]==='open'&&!st[4]&&!m.has(st[1]))m.set(st[1],++k);}return m;}
"""

EVAL_JS = r"""
const EPS=DATA.episodes;const S=hashState();
const types=[...new Set(EPS.map(e=>e.type))].sort();
function summary(){const sm=document.getElementById('summary');for(const k of ['policy','tasks','n','f1','em','answer_rate','avg_opens','avg_tokens_read']){
if(DATA.summary[k]!==undefined)sm.append(el('span',{},k+' ',el('b',{text:fmt(DATA.summary[k],k==='n'?0:3)})));}
sm.append(el('span',{id:'shown'}));}
function controls(){const c=document.getElementById('controls');
const ty=el('select',{id:'f-type'},el('option',{value:'',text:'all types'}),...types.map(t=>el('option',{value:t,text:t})));
const re=el('select',{id:'f-result'},...[['','right and wrong'],['right','right (EM 1)'],['wrong','wrong (EM 0)']].map(([v,t])=>el('option',{value:v,text:t})));
const q=el('input',{id:'f-q',type:'search',placeholder:'search question / answer'});
ty.value=S.type||'';re.value=S.result||'';q.value=S.q||'';
for(const x of [ty,re,q])x.addEventListener('input',()=>{S.type=ty.value;S.result=re.value;S.q=q.value;setHash(S);render();});
c.append(el('label',{},'type ',ty),el('label',{},'result ',re),el('label',{},q));}
function keep(e){if(S.type&&e.type!==S.type)return false;if(S.result==='right'&&e.em<1)return false;if(S.result==='wrong'&&e.em>=1)return false;
if(S.q){const q=S.q.toLowerCase();if(!(e.question+' '+(e.answer||'')+' '+e.gold.join(' ')).toLowerCase().includes(q))return false;}return true;}
function detail(e){const order=openOrder(e.steps);const left=el('div',{},el('h4',{text:'Previews (\u2605 gold chunk, green: opened)'}),chunkTable(e,order));
const ol=el('ol',{class:'steps'},...e.steps.map(st=>stepItem(st,e.chunks,e.texts)));const [cls,word]=verdict(e.f1,e.em);
const right=el('div',{},el('h4',{text:'What the policy did'}),ol,el('p',{},el('b',{text:'answer: '}),e.answer===null?el('i',{text:'(none)'}):'\u201c'+e.answer+'\u201d',
'  gold: \u201c'+e.gold.join('\u201d / \u201c')+'\u201d  ',el('span',{class:cls,text:word+' F1 '+fmt(e.f1)+' EM '+fmt(e.em,0)})),
el('p',{class:'muted',text:'stop: '+e.stop+' \u00b7 reward '+fmt(e.reward)+' \u00b7 '+e.tokens+' tokens read in '+e.opens+' opens \u00b7 task '+e.id}));
return el('tr',{class:'detail'},el('td',{colspan:'9'},el('div',{class:'cols'},left,right)));}
function render(){const m=document.getElementById('main');m.textContent='';const t=el('table',{id:'episodes'});
t.append(el('tr',{},...['#','type','question','answer','gold','F1','opens','tokens','stop'].map(h=>el('th',{text:h}))));
const shown=EPS.map((e,i)=>[e,i]).filter(([e])=>keep(e));let first=true;
for(const [e,i] of shown){const [cls,word]=verdict(e.f1,e.em);const tr=el('tr',{class:'ep','data-result':word,'data-id':e.id},el('td',{class:'num',text:String(i+1)}),
el('td',{},el('span',{class:'badge',text:e.type})),el('td',{text:e.question}),el('td',{text:e.answer===null?'(none)':e.answer}),el('td',{text:e.gold[0]}),
el('td',{class:'num '+cls,text:fmt(e.f1,2)}),el('td',{class:'num',text:fmt(e.opens,0)}),el('td',{class:'num',text:fmt(e.tokens,0)}),el('td',{text:e.stop}));
t.append(tr);const open=S.open==='all'||S.open===e.id||(!S.open&&first);first=false;if(open)t.append(detail(e));
tr.addEventListener('click',()=>{const n=tr.nextSibling;if(n&&n.classList&&n.classList.contains('detail'))n.remove();else tr.after(detail(e));});}
m.append(t);document.getElementById('shown').textContent='shown '+shown.length+' of '+EPS.length;}
summary();controls();render();window.addEventListener('hashchange',()=>{Object.keys(S).forEach(k=>delete S[k]);Object.assign(S,hashState());render();});
"""

GRPO_JS = r"""
const G=DATA.groups;const S=hashState();
function summary(){const sm=document.getElementById('summary');const all=G.flatMap(g=>g.rollouts);const kept=G.filter(g=>g.kept).length;
const mean=all.reduce((a,r)=>a+r.reward,0)/Math.max(all.length,1);
sm.append(el('span',{},'step ',el('b',{text:String(DATA.step)})),el('span',{},'groups kept ',el('b',{text:kept+'/'+G.length})),
el('span',{},'rollouts ',el('b',{text:String(all.length)})),el('span',{},'mean reward ',el('b',{text:fmt(mean)})),el('span',{id:'shown'}));}
function controls(){const c=document.getElementById('controls');
const gs=el('select',{id:'f-group'},el('option',{value:'',text:'all groups'}),...G.map((g,i)=>el('option',{value:String(i),text:(i+1)+': '+g.question.slice(0,60)})));
const kp=el('select',{id:'f-kept'},el('option',{value:'',text:'kept and dropped'}),el('option',{value:'1',text:'kept only'}),el('option',{value:'0',text:'dropped only'}));
gs.value=S.group||'';kp.value=S.kept||'';for(const x of [gs,kp])x.addEventListener('input',()=>{S.group=gs.value;S.kept=kp.value;setHash(S);render();});
c.append(el('label',{},'group ',gs),el('label',{},'',kp));}
function card(r,i,g){const cls=r.adv===null?'':(r.adv>0?' pos':(r.adv<0?' neg':''));const [vc,word]=verdict(r.f1,r.em);
const path=r.steps.map(st=>st[0]==='open'?('#'+st[1]):(st[0]==='answer'?'answer':(st[0]==='summarize'?'note':st[0]))).join(' \u2192 ');
const ol=el('ol',{class:'steps'},...r.steps.map(st=>stepItem(st,g.chunks,g.texts)));
return el('div',{class:'rollout'+cls},el('div',{class:'head'},el('b',{text:'#'+(i+1)}),el('span',{text:'r '+fmt(r.reward)}),
el('span',{text:r.adv===null?'adv \u2014':'adv '+(r.adv>=0?'+':'')+fmt(r.adv,2)})),
el('div',{},el('span',{class:vc,text:word}),' \u201c'+(r.answer===null?'':r.answer)+'\u201d F1 '+fmt(r.f1,2)),
el('div',{class:'muted',text:r.tokens+' tok \u00b7 '+path}),el('details',{},el('summary',{text:'steps'}),ol));}
function render(){const m=document.getElementById('main');m.textContent='';let n=0;
G.forEach((g,gi)=>{if(S.group!==undefined&&S.group!==''&&String(gi)!==S.group)return;if(S.kept==='1'&&!g.kept)return;if(S.kept==='0'&&g.kept)return;n++;
const rs=g.rollouts.map(r=>r.reward);const mean=rs.reduce((a,b)=>a+b,0)/rs.length;
const sec=el('section',{class:'group'+(g.kept?'':' dropped'),'data-group':String(gi)},el('div',{},el('b',{text:(gi+1)+'. '}),el('span',{class:'badge',text:g.type}),' '+g.question),
el('div',{class:'muted',text:'gold \u201c'+g.gold.join('\u201d / \u201c')+'\u201d \u00b7 rewards mean '+fmt(mean)+' min '+fmt(Math.min(...rs))+' max '+fmt(Math.max(...rs))+
(g.kept?'':' \u00b7 dropped: all rewards equal, no update from this group')}),
el('details',{},el('summary',{text:'chunk previews'}),chunkTable(g,new Map())),el('div',{class:'grid'},...g.rollouts.map((r,i)=>card(r,i,g))));m.append(sec);});
document.getElementById('shown').textContent='shown '+n+' of '+G.length+' groups';}
summary();controls();render();window.addEventListener('hashchange',()=>{Object.keys(S).forEach(k=>delete S[k]);Object.assign(S,hashState());render();});
"""
