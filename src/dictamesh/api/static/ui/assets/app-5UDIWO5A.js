import{a as Je,b as Ve}from"./chunk-2WCAQH4S.js";var k,Qe,ta,q,be,le,Ze,se,et,ve,ye,aa,Z=Symbol.for("pv"),de={},ce=[],na=/^m(i|n|o|s|text|space)$/,we=Array.isArray,xe=ce.slice,K=Object.assign;function G(e){e&&e.parentNode&&e.remove()}function ke(e,t,a){var n,s,r,o={},i=arguments.length;for(r in t)r=="key"?n=t[r]:r=="ref"&&typeof e!="function"?s=t[r]:o[r]=t[r];return i>2&&(o.children=i>3?xe.call(arguments,2):a),Y(e,o,n,s,null)}function Y(e,t,a,n,s){var r={type:e,props:t,key:a,ref:n,__k:null,__:null,__b:0,__e:null,__c:null,constructor:Z,__v:s||++Qe,__i:-1,__u:0};return!s&&k.vnode&&k.vnode(r),r}function ue(e){return e.children}function Q(e,t){this.props=e,this.context=t,this.__g=0}function z(e,t){if(t==null)return e.__&&z(e.__,e.__i+1);for(var a;t<e.__k.length;t++)if((a=e.__k[t])&&a.__e)return a.__e;return typeof e.type!="function"||e.props.__P?null:z(e)}function ra(e){var t,a=e.__v,n=a.__e,s=[],r=[],o=e.__P;o&&((t=K({constructor:Z},a)).__v=a.__v+1,k.vnode&&k.vnode(t),Se(o,t,a,e.__n,o.namespaceURI,32&a.__u?[n]:null,s,n||z(a),32&a.__u,r),t.__v=a.__v,t.__.__k[t.__i]=t,st(s,t,r),a.__=a.__e=null,t.__e!=n&&tt(t))}function tt(e){if((e=e.__)&&e.__c&&!e.props.__P)return e.__e=null,e.__k.some(function(t){return t&&(e.__e=t.__e)}),tt(e)}function Xe(e){(8&e.__g||(e.__g|=8,q.push(e),le++))&&be==k.debounceRendering||((be=k.debounceRendering)||queueMicrotask)(at)}function at(){try{for(var e,t=1;q.length;)q.length>t&&q.sort(Ze),e=q.shift(),t=q.length,8&e.__g&&ra(e)}finally{(le=q.length)&&(be||queueMicrotask)(at)}}function nt(e,t,a,n,s,r,o,i,p,c,u){var m,f,d,$,h,g,v=n.__k||ce,w=t.length;for(p=oa(a,t,v,p,w),m=0;m<w;m++)(d=a.__k[m])!=null&&(f=~d.__i&&v[d.__i]||de,d.__i=m,g=Se(e,d,f,s,r,o,i,p,c,u),$=d.__e,(f.ref!=d.ref||8&f.__u)&&(f.ref&&Te(f.ref,null,d,f),d.ref&&u.push(d.ref,d.__c||$,d)),h=h||$,4&d.__u?(p=rt(d,p,e,!f.__v),f.__e&&(f.__e=null)):typeof d.type=="function"&&g!==void 0?p=g:$&&(p=$.nextSibling),d.__u&=-21);return a.__e=h,p}function oa(e,t,a,n,s){var r,o,i,p,c,u,m,f,d,$=a.length,h=$,g=0,v=0,w=e.__k=Array(s);for(r=0;r<s;r++)(o=t[r])!=null&&typeof o!="boolean"&&typeof o!="function"?(typeof o!="object"||o.constructor===String?o=w[r]=Y(null,o):we(o)?o=w[r]=Y(ue,{children:o}):o.constructor===Z&&o.__b?o=w[r]=Y(o.type,o.props,o.key,o.ref,o.__v):w[r]=o,p=r+g,o.__=e,o.__b=e.__b+1,i=null,~(c=o.__i=sa(o,a,p,h))&&(h--,(i=a[c])&&(i.__u|=2)),i&&i.__v?(o.__u|=16,c==p-1?g--:c==p+1?g++:c!=p&&(c>p?g--:g++,v=1)):(~c||(s>$?g--:s<$&&g++),typeof o.type!="function"&&(o.__u|=4))):w[r]=null;if(v){for(u=[],m=[],r=0;r<s;r++)if((o=w[r])&&16&o.__u){for(g=0,f=u.length;g<f;)u[d=g+f>>1]<o.__i?g=d+1:f=d;u[g]=o.__i,m[r]=g+1}for(g=u.length;r--;)m[r]&&(m[r]==g?g--:w[r].__u|=4)}if(h)for(r=0;r<$;r++)!(i=a[r])||2&i.__u||(i.__e==n&&(n=z(i)),Ce(i,i));return n}function rt(e,t,a,n){var s,r,o,i;if(typeof e.type=="function"){if(e.props.__P)return t;if(s=e.__k)for(r=0;r<s.length;r++)s[r]&&(s[r].__=e,t=rt(s[r],t,a,!1));return t}for(t&&!t.parentNode&&(t=z(e))&&!t.parentNode&&(t=null),o=e.__e,i=t;i&&i.nodeType==8;)i=i.nextSibling;for(o!=i&&(!n&&a.moveBefore&&o.parentNode?a.moveBefore(o,t):a.insertBefore(o,t||null)),t=o;(t=t&&t.nextSibling)&&t.nodeType==8&&!t.data.startsWith("$s"););return t}function sa(e,t,a,n){var s,r=e.key,o=e.type,i=t[a],p=i&&!(2&i.__u);if(i===null&&r==null||p&&r==i.key&&o==i.type)return a;if(n>(p?1:0)){for(s=a-1;s>=0;s--)if((i=t[s])&&!(2&i.__u)&&r==i.key&&o==i.type)return s;for(s=a+1;s<t.length;s++)if((i=t[s])&&!(2&i.__u)&&r==i.key&&o==i.type)return s}return-1}function Ye(e,t,a){a==null&&(a=""),t[0]=="-"?e.setProperty(t,a):e[t]=a}function oe(e,t,a,n,s){var r,o;if(t=="style")if(typeof a=="string")e.style.cssText=a;else{if(typeof n=="string"&&(e.style.cssText=n=""),n)for(t in n)a&&t in a||Ye(e.style,t);if(a)for(t in a)n&&a[t]==n[t]||Ye(e.style,t,a[t])}else if(t[0]=="o"&&t[1]=="n")typeof a!="function"&&(a=null),typeof n!="function"&&(n=null),(e.__e||(e.__e={}))[t]=a,a&&n||(o=ye[t]||(ye[t]=ia(t)),(e.__a||(e.__a={}))[t]=ve,r=t!=(t=t.replace(et,"$1")),(t=t.slice(2))[0]<"a"&&(t=t.toLowerCase()),a?e.addEventListener(t,o,r):e.removeEventListener(t,o,r));else{if(s=="http://www.w3.org/2000/svg")t=t.replace(/xlink(H|:h)/,"h").replace(/sName$/,"s");else if(t!="width"&&t!="height"&&t!="href"&&t!="list"&&t!="form"&&t!="tabIndex"&&t!="download"&&t!="rowSpan"&&t!="colSpan"&&t!="role"&&t!="popover"&&t in e)try{return void(e[t]=a??"")}catch{}if(typeof a=="function")return;a==null||a===!1&&t[4]!="-"?e.removeAttribute(t):e.setAttribute(t,t=="popover"&&a==1?"":a)}}function ia(e){return function(t){var a=this.__e;if(a){if(a=a[e],t[se]==null)t[se]=ve++;else if(t[se]<this.__a[e])return;return a(k.event?k.event(t):t)}}}function Se(e,t,a,n,s,r,o,i,p,c){var u,m,f,d,$,h,g,v,w,_,b,O,Ge,re,B,Ke,H,W,U=t.type;if(t.constructor!==Z)return null;128&a.__u&&(p=32&a.__u,u=a.__c.__z)&&(t.__u|=p,m=r=[],u.nodeType==8?i=ie(u,r):r.push(u),i=r[0]||i),(u=k.__b)&&u(t);e:if(typeof U=="function"){f=o.length;try{if(v=t.props,w=(u=U.prototype)&&u.render,_=(u=U.contextType)&&n[u.__c],b=u?_?_.props.value:u.__:n,(d=a.__c)?(t.__c=d,2&d.__g&&(d.__g|=1)):(w?t.__c=d=new U(v,b):(t.__c=d=new Q(v,b),d.constructor=U,d.render=da),_&&_.sub(d),d.state||(d.state={}),d.__n=n,d.__g|=8,d.__h=[],d.__k=[]),w&&(d.__s||(d.__s=d.state),U.getDerivedStateFromProps&&(d.__s==d.state&&(d.__s=K({},d.__s)),K(d.__s,U.getDerivedStateFromProps(v,d.__s)))),$=d.props,h=d.state,d.__v=t,a.__c){if(v!==$&&w&&!U.getDerivedStateFromProps&&d.componentWillReceiveProps&&d.componentWillReceiveProps(v,b),t.__v==a.__v&&!(8&d.__g)||!(4&d.__g)&&d.shouldComponentUpdate&&d.shouldComponentUpdate(v,d.__s,b)===!1){t.__v!=a.__v&&(d.props=v,d.state=d.__s,d.__g&=-9),t.__e=a.__e,t.__k=a.__k,t.__k.some(function(R){R&&(R.__=t)}),ce.push.apply(d.__h,d.__k),d.__k=[],d.__h.length&&o.push(d),i=z(a);break e}d.componentWillUpdate&&d.componentWillUpdate(v,d.__s,b),w&&d.componentDidUpdate&&d.__h.push(function(){d.componentDidUpdate($,h,g)})}else w&&!U.getDerivedStateFromProps&&d.componentWillMount&&d.componentWillMount(),w&&d.componentDidMount&&d.__h.push(d.componentDidMount);d.context=b,d.props=v,d.__P=e,d.__g&=-5,O=k.__r,Ge=w?25:0;do d.__g&=-9,O&&O(t),u=d.render(d.props,d.state=d.__s,d.context);while(8&d.__g&&++Ge<25);w&&(ce.push.apply(d.__h,d.__k),d.__k=[]),d.state=d.__s,d.getChildContext&&(n=K({},n,d.getChildContext())),w&&a.__c&&d.getSnapshotBeforeUpdate&&(g=d.getSnapshotBeforeUpdate($,h)),re=u&&u.type===ue&&u.key==null?u.props.children:u,v.__P&&(u=i,s=(e=v.__P).namespaceURI,p=r=null,a.props&&a.props.__P!=e&&(a.__k.some(function(R){R&&Ce(R,R)}),a.__k=null),i=a.__k?z(a,0):null),i=nt(e,we(re)?re:[re],t,a,n,s,r,o,i,p,c),v.__P&&(t.__e=null,i=u),t.__u&=-161,m&&m.some(G),d.__h.length&&o.push(d),1&d.__g&&(d.__g&=-4)}catch(R){if(o.length=f,t.__v=null,p||r)if(R&&R.then){if(t.__u|=128|p,r){for(~(H=r.indexOf(i||void 0))||(H=r.length);(W=r[H-1])&&W.nodeType==8;)H--;for(;H<r.length;H++)if(W=r[H])if(r[H]=null,B){if(W==Ke)break}else{if(W.nodeType!=8)break;W.data.startsWith("$s")&&(Ke=ie(B=W))}}if(!B){for(;i&&i.nodeType==8&&i.nextSibling;)i=i.nextSibling;B=i}(u=ie(B=t.__c.__z||(t.__c.__z=B)))?(t.__e=B,i=u):t.__e=i,i=i&&i.nextSibling}else r&&r.some(G);else t.__e=a.__e;t.__k||(t.__k=a.__k||[]),R&&R.then||ot(t),k.__e(R,t,a)}}else i=t.__e=la(a.__e,t,a,n,s,r,o,p,c,e);return(u=k.diffed)&&u(t),i}function ie(e,t){if(e&&e.nodeType==8&&e.data.startsWith("$s"))for(var a=1;e=e.nextSibling;){if(e.nodeType==8){if(e.data.startsWith("$s"))a++;else if(e.data.startsWith("/$s")&&!--a)return e}t&&t.push(e)}}function ot(e){e&&(e.__c&&(e.__c.__g|=4),e.__k&&e.__k.some(ot))}function st(e,t,a){for(var n=0;n<a.length;)Te(a[n++],a[n++],a[n++]);k.__c&&k.__c(t,e),e.some(function(s){try{e=s.__h,s.__h=[],e.some(function(r){r.call(s)})}catch(r){k.__e(r,s.__v)}})}function la(e,t,a,n,s,r,o,i,p,c){var u,m,f,d,$,h,g,v,w=a.props||de,_=t.props,b=t.type;if(b=="svg"?s="http://www.w3.org/2000/svg":b=="math"?s="http://www.w3.org/1998/Math/MathML":s||(s="http://www.w3.org/1999/xhtml"),r){for(u=0;u<r.length;u++)if(($=r[u])&&(b?$.localName==b:$.nodeType==3)){e=$,r[u]=null;break}}if(!e){if(v=c.ownerDocument||document,!b)return v.createTextNode(_);e=v.createElementNS(s,b,_.is?_:c),i&&(k.__m&&k.__m(t,r),i=!1),r=null}if(b){if(c=b=="template"&&e.content||e,r=b=="textarea"&&_.defaultValue!=null?null:r&&xe.call(c.childNodes),!i&&r)for(w={},u=0;u<e.attributes.length;u++)w[($=e.attributes[u]).name]=$.value;for(u in w)$=w[u],u=="dangerouslySetInnerHTML"?f=$:u=="children"||u in _||u=="value"&&"defaultValue"in _||u=="checked"&&"defaultChecked"in _||oe(e,u,null,$,s);for(u in _)$=_[u],u=="children"?d=$:u=="dangerouslySetInnerHTML"?m=$:u=="value"?h=$:u=="checked"?g=$:i&&typeof $!="function"||w[u]===$||oe(e,u,$,w[u],s);m?(i||f&&(m.__html==f.__html||m.__html==e.innerHTML)||(e.innerHTML=m.__html),t.__k=[]):(f&&(e.textContent=""),(b=="foreignObject"||s=="http://www.w3.org/1998/Math/MathML"&&na.test(b))&&(s="http://www.w3.org/1999/xhtml"),nt(c,we(d)?d:[d],t,a,n,s,r,o,r?r[0]:a.__k&&z(a,0),i,p),r&&r.some(G)),i&&b!="textarea"||(u="value",b=="progress"&&h==null?e.removeAttribute(u):h==null||h===e[u]&&(b!="progress"||h)||oe(e,u,h,w[u],s),u="checked",g!=null&&g!=e[u]&&oe(e,u,g,w[u],s))}else w===_||i&&e.data==_||(e.data=_);return e}function Te(e,t,a,n){try{typeof e=="function"?t?t.__x=e(t)||1:n&&(n=n.__c||n.__e)&&(t=n.__x)&&(n.__x=null,typeof t=="function"?t():e(null)):e.current=t}catch(s){k.__e(s,a)}}function Ce(e,t,a){var n,s,r,o;if(k.unmount&&k.unmount(e),!(n=e.ref)||n.current&&n.current!=e.__e||Te(n,null,t,e),n=e.__c){if(n.componentWillUnmount)try{n.componentWillUnmount()}catch(i){k.__e(i,t)}n.__P=n.__n=null}if(n=e.__k)for(o=0;o<n.length;o++)n[o]&&Ce(n[o],t,typeof e.type!="function"||a&&!e.props.__P);!a&&(n=e.__c)&&(n=n.__z)&&(s=ie(n,r=[]))&&(n==e.__e&&r.some(G),G(s),G(n)),a||G(e.__e),e.__e=e.__c=e.__=null}function da(e,t,a){return this.constructor(e,a)}function Ee(e,t){var a,n,s,r;k.__&&k.__(e,t),t.nodeType==9&&(t=t.documentElement),n=(a=e&&32&e.__u)?null:t.__k,t.__k=Y(ue,{children:[e]}),s=[],r=[],Se(t,t.__k,n||de,de,t.namespaceURI,n?null:t.firstChild?xe.call(t.childNodes):null,s,n?n.__e:t.firstChild,a,r),st(s,t.__k,r),t.__k.props.children=null}k={__e:function(e,t,a,n){for(var s,r,o;t=t.__;)if((s=t.__c)&&!(1&s.__g)){s.__g|=4;try{if((o=(r=s.constructor)&&r.getDerivedStateFromError)&&s.setState(r.getDerivedStateFromError(e)),s.componentDidCatch&&(s.componentDidCatch(e,n||{}),o=1),o&&8&s.__g)return void(s.__g|=2)}catch(i){e=i}}throw le=0,e}},Qe=0,ta=function(e){return e!=null&&e.constructor===Z},Q.prototype.setState=function(e,t){var a=this.__s;a&&a!=this.state||(a=this.__s=K({},this.state)),typeof e=="function"&&(e=e(K({},a),this.props)),e&&(K(a,e),this.__v&&(t&&this.__k.push(t),Xe(this)))},Q.prototype.forceUpdate=function(e){this.__v&&(this.__g|=4,e&&this.__h.push(e),Xe(this))},Q.prototype.render=ue,q=[],le=0,Ze=function(e,t){return e.__v.__b-t.__v.__b},se=Symbol(),et=/(PointerCapture)$|Capture$/i,ve=0,ye={},aa=0;var te,L,Ne,it,Le=Object.is,ae=0,_t=[],Ae=[],N=k,lt=N.__b,dt=N.__r,ct=N.diffed,ut=N.__c,pt=N.unmount,mt=N.__;function Pe(e,t){N.__h&&N.__h(L,e,ae||t),ae=0;var a=L.__H||(L.__H={__:[],__h:[]});return e>=a.__.length&&a.__.push({}),a.__[e]}function y(e){return ae=1,ca(yt,e)}function ca(e,t,a){var n=Pe(te++,2);if(n.t=e,!n.__c&&(n.__=[a?a(t):yt(void 0,t),function(r){var o=(n.__N||n.__)[0],i=n.t(o,r);Le(o,i)||(n.__N=[i,n.__[1]],n.__c.setState({}))}],n.__c=L,!L.__f)){L.__f=!0;var s=L.shouldComponentUpdate;L.shouldComponentUpdate=function(r,o,i){var p=this.__H;if(!p)return!0;var c=!1,u=this.props!=r;if(p.__.some(function(f){f.__N&&(c=!0,Le(f.__[0],f.__N[0])||(u=!0))}),s){var m=s.call(this,r,o,i);return c?m||u:m}return!c||u}}return n.__}function S(e,t){var a=Pe(te++,3);!N.__s&&bt(a.__H,t)&&(a.__P=!0,a.__=e,a.u=t,L.__H.__h.push(a))}function j(e){return ae=5,gt(function(){return{current:e}},[])}function gt(e,t){var a=Pe(te++,7);return bt(a.__H,t)&&(a.__=e(),a.__H=t),a.__}function $t(e,t){return ae=8,gt(function(){return e},t)}function ua(){var e;do{for(;e=Ae.shift();)try{ee(e)}catch(a){N.__e(a,{__:(e=e.__P)&&e.__v})}for(;e=_t.shift();){var t=e.__H;if(e.__P&&t)try{t.__h.some(ee),t.__h.some(Ie),t.__h=[]}catch(a){t.__h=[],N.__e(a,e.__v)}}}while(Ae.length)}N.__b=function(e){L=null,lt&&lt(e)},N.__=function(e,t){e&&t.__k&&t.__k.__m&&(e.__m=t.__k.__m),mt&&mt(e,t)},N.__r=function(e){dt&&dt(e),te=0;var t=(L=e.__c).__H;t&&(Ne==L?L.__h=[]:(t.__h.some(ee),t.__h.some(Ie),te=0),t.__h=[],t.__.some(function(a){a.__N&&(a.__=a.__N),a.u=a.__N=void 0})),Ne=L},N.diffed=function(e){ct&&ct(e);var t=e.__c;t&&t.__H&&(t.__H.__h.length&&ht(_t.push(t)),t.__H.__.some(function(a){a.u&&(a.__H=a.u)})),Ne=L=null},N.__c=function(e,t){t.some(function(a){try{a.__h.some(ee),a.__h=a.__h.filter(function(n){return!n.__||Ie(n)})}catch(n){a.__h=[function(){throw n}]}}),ut&&ut(e,t)},N.unmount=function(e){pt&&pt(e);var t,a,n=e.__c;n&&n.__H&&(n.__H.__.some(function(s){try{if(s.__P&&s.__c){if(a===void 0){for(a=e.__;a&&(!a.__c||!a.__c.__P);)a=a.__;a=a&&a.__c}s.__P=a,ht(Ae.push(s))}else ee(s)}catch(r){t=r}}),n.__H=void 0,t&&N.__e(t,n.__v))};var ft=typeof requestAnimationFrame=="function";function pa(e){var t,a=function(){clearTimeout(n),ft&&cancelAnimationFrame(t),setTimeout(e)},n=setTimeout(a,35);ft&&(t=requestAnimationFrame(a))}function ht(e){e!=1&&it==N.requestAnimationFrame||((it=N.requestAnimationFrame)||pa)(ua)}function ee(e){var t=L,a=e.__c;typeof a=="function"&&(e.__c=void 0,a()),L=t}function Ie(e){var t=L;e.__c=e.__(),L=t}function bt(e,t){return!e||e.length!=t.length||t.some(function(a,n){return!Le(a,e[n])})}function yt(e,t){return typeof t=="function"?t(e):t}var pe=document.getElementById("app")?.dataset??{},D={auth:pe.auth??"off",tenantHeader:pe.tenantHeader??"X-Tenant-ID",graphqlPath:pe.graphql??"/graphql",version:pe.version??""};var Re="dictamesh.session";function me(){try{let e=JSON.parse(sessionStorage.getItem(Re)??"null");return e&&(e.apiKey||e.jwt)?e:null}catch{return null}}function vt(e){sessionStorage.setItem(Re,JSON.stringify(e))}function je(){sessionStorage.removeItem(Re)}var ma=15e3,J=class extends Error{constructor(t,a,n){super(n),this.name="ApiError",this.status=t,this.code=a}},De=new Set;function wt(e){return De.add(e),()=>De.delete(e)}function ne(e=me()){let t={};return e?.apiKey?t["X-API-Key"]=e.apiKey:e?.jwt&&(t.Authorization=`Bearer ${e.jwt}`),e?.tenant&&(t[D.tenantHeader]=e.tenant),t}function Me(e,t={}){let a=new URL(e,window.location.origin);for(let[n,s]of Object.entries(t))s!=null&&s!==""&&a.searchParams.set(n,s);return a}async function A(e,t={}){return(await Oe(e,t)).body}async function Oe(e,{params:t,signal:a,session:n}={}){let s=[AbortSignal.timeout(ma)];a&&s.push(a);let r;try{r=await fetch(Me(e,t),{headers:{Accept:"application/json",...ne(n)},signal:AbortSignal.any(s),credentials:"omit"})}catch(i){if(a?.aborted)throw i;let p=i?.name==="TimeoutError";throw new J(0,p?"TIMEOUT":"NETWORK",p?"The node did not answer in time.":"The node cannot be reached.")}let o=null;try{o=await r.json()}catch{o=null}if(!r.ok){let i=new J(r.status,o?.error?.code??`HTTP_${r.status}`,o?.error?.message??r.statusText??"request failed");throw r.status===401&&De.forEach(p=>p(i)),i}return{body:o,headers:r.headers}}function Ue(e,t){return new Set((e.get(t)??"").split(",").map(a=>a.trim()).filter(Boolean))}function fe(e){return e?.name==="AbortError"}var kt=function(e,t,a,n){var s;t[0]=0;for(var r=1;r<t.length;r++){var o=t[r++],i=t[r]?(t[0]|=o?1:2,a[t[r++]]):t[++r];o===3?n[0]=i:o===4?n[1]=Object.assign(n[1]||{},i):o===5?(n[1]=n[1]||{})[t[++r]]=i:o===6?n[1][t[++r]]+=i+"":o?(s=e.apply(i,kt(e,i,a,["",null])),n.push(s),i[0]?t[0]|=2:(t[r-2]=0,t[r]=s)):n.push(i)}return n},xt=new Map;function St(e){var t=xt.get(this);return t||(t=new Map,xt.set(this,t)),(t=kt(this,t.get(e)||(t.set(e,t=(function(a){for(var n,s,r=1,o="",i="",p=[0],c=function(f){r===1&&(f||(o=o.replace(/^\s*\n\s*|\s*\n\s*$/g,"")))?p.push(0,f,o):r===3&&(f||o)?(p.push(3,f,o),r=2):r===2&&o==="..."&&f?p.push(4,f,0):r===2&&o&&!f?p.push(5,0,!0,o):r>=5&&((o||!f&&r===5)&&(p.push(r,0,o,s),r=6),f&&(p.push(r,f,0,s),r=6)),o=""},u=0;u<a.length;u++){u&&(r===1&&c(),c(u));for(var m=0;m<a[u].length;m++)n=a[u][m],r===1?n==="<"?(c(),p=[p],r=3):o+=n:r===4?o==="--"&&n===">"?(r=1,o=""):o=n+o[0]:i?n===i?i="":o+=n:n==='"'||n==="'"?i=n:n===">"?(c(),r=1):r&&(n==="="?(r=5,s=o,o=""):n==="/"&&(r<5||a[u][m+1]===">")?(c(),r===3&&(p=p[0]),r=p,(p=p[0]).push(2,0,r),r=0):n===" "||n==="	"||n===`
`||n==="\r"?(c(),r=2):o+=n),r===3&&o==="!--"&&(r=4,p=p[0])}return c(),p})(e)),t),arguments,[])).length>1?t:t[0]}var l=St.bind(ke);function x({error:e}){if(!e)return null;let t=e.code?` (${e.code})`:"";return l`<div class="banner banner-error" role="alert" data-testid="error">
    ${e.message||String(e)}${t}
  </div>`}function C({label:e="Loading\u2026"}){return l`<p class="muted" role="status" aria-live="polite">${e}</p>`}function F({what:e}){return l`<p class="muted" data-testid="not-available">${e}: not available</p>`}function E({value:e}){if(e==null||e==="")return l`<span>—</span>`;let t=new Date(e);return Number.isNaN(t.getTime())?l`<span>${String(e)}</span>`:l`<time datetime=${t.toISOString()} title=${t.toISOString()}>
    ${t.toLocaleString()}
  </time>`}var fa="/api/v1/schemas";function Tt({message:e,onLogin:t}){let[a,n]=y(""),[s,r]=y(""),[o,i]=y(""),[p,c]=y(e?{message:e}:null),[u,m]=y(!1);async function f(d){d.preventDefault();let $={apiKey:a.trim(),jwt:s.trim(),tenant:o.trim()};if(!$.apiKey==!$.jwt){c({message:"Enter an API key or a token (one of the two)."});return}m(!0),c(null);try{await A(fa,{session:$}),vt($),t($)}catch(h){c(h)}finally{m(!1)}}return l`<section class="login" aria-labelledby="login-title">
    <h1 id="login-title">Log in</h1>
    <p class="muted">
      ${D.auth==="required"?"This node needs credentials":"Log in to see what your credentials allow"}:
      an API key or a JSON Web Token. They are kept in this tab only.</p>
    <${x} error=${p} />
    <form onSubmit=${f}>
      <label for="login-api-key">API key</label>
      <input id="login-api-key" data-testid="login-api-key" type="password"
        autocomplete="off" value=${a} onInput=${d=>n(d.currentTarget.value)} />
      <label for="login-jwt">or token (JWT)</label>
      <textarea id="login-jwt" data-testid="login-jwt" rows="3" autocomplete="off"
        value=${s} onInput=${d=>r(d.currentTarget.value)}></textarea>
      <label for="login-tenant">Tenant <span class="muted">(optional)</span></label>
      <input id="login-tenant" data-testid="login-tenant" type="text" autocomplete="off"
        value=${o} onInput=${d=>i(d.currentTarget.value)} />
      <button type="submit" data-testid="login-submit" disabled=${u}>
        ${u?"Checking\u2026":"Log in"}
      </button>
    </form>
  </section>`}var Fe="dictamesh:route";function Ct(e=window.location.hash){let t=e.replace(/^#\/?/,""),[a,n=""]=t.split("?",2),[s="",...r]=a.split("/").filter(Boolean).map(ha);return{page:s,params:r,query:new URLSearchParams(n)}}function ha(e){try{return decodeURIComponent(e)}catch{return e}}function T(e,t=[],a={}){let n=[e,...t].map(o=>encodeURIComponent(String(o))).join("/"),s=new URLSearchParams;for(let[o,i]of Object.entries(a))i!=null&&i!==""&&s.set(o,i);let r=s.toString();return`#/${n}${r?`?${r}`:""}`}function P(e,t=[],a={},{replace:n=!1}={}){let s=T(e,t,a);s!==window.location.hash&&(n?(window.history.replaceState(null,"",s),window.dispatchEvent(new Event(Fe))):window.location.hash=s)}function Et(){let[e,t]=y(Ct);return S(()=>{let a=()=>t(Ct());return window.addEventListener("hashchange",a),window.addEventListener(Fe,a),()=>{window.removeEventListener("hashchange",a),window.removeEventListener(Fe,a)}},[]),e}var _a=15e3;async function he(e,t){let a={Accept:"application/json",...ne()};t!==void 0&&(a["Content-Type"]="application/json");let n;try{n=await fetch(Me(e),{method:"POST",headers:a,body:t===void 0?void 0:JSON.stringify(t),signal:AbortSignal.timeout(_a),credentials:"omit"})}catch(r){throw new J(0,r?.name==="TimeoutError"?"TIMEOUT":"NETWORK","The node cannot be reached.")}let s=await n.json().catch(()=>null);if(!n.ok)throw new J(n.status,s?.error?.code??`HTTP_${n.status}`,s?.error?.message??n.statusText);return s}function I(e,{params:t,key:a="",everyMs:n=0,auto:s=!0}={}){let[r,o]=y({data:null,error:null,loading:!0}),i=j(null),p=JSON.stringify(t??{}),c=$t(async()=>{if(!e)return;i.current?.abort();let u=new AbortController;i.current=u,o(m=>({...m,loading:!0}));try{let m=await A(e,{params:t,signal:u.signal});o({data:m,error:null,loading:!1})}catch(m){fe(m)||o(f=>({data:f.data,error:m,loading:!1}))}},[e,p,a]);return S(()=>(c(),()=>i.current?.abort()),[c]),S(()=>{if(!n||!s)return;let u=setInterval(c,n);return()=>clearInterval(u)},[c,n,s]),{...r,reload:c}}function V(e){return e==null?"\u2014":`${Number(e).toFixed(1)} ms`}function _e(e){return e==null?"\u2014":`${(Number(e)*100).toFixed(1)} %`}function ge({met:e,testid:t}){let[a,n]=e===!0?["met","badge ok"]:e===!1?["missed","badge bad"]:["n/a","badge"];return l`<span class=${n} data-testid=${t}>${a}</span>`}function Nt({error:e,what:t,testid:a}){if(!e||e.status!==401&&e.status!==403)return null;let n=e.status===401?"Log in to see it.":"Your credentials do not allow it.";return l`<div class="banner banner-warn" role="alert" data-testid=${a}>
    ${t} is for administrators. ${n}
  </div>`}var Lt=5e3;function At(){let[e,t]=y(!0),{data:a,error:n,loading:s,reload:r}=I("/api/v1/adapters/status",{everyMs:Lt,auto:e}),o=a?.adapters??[];return l`<section aria-labelledby="adapters-title">
    <h1 id="adapters-title">Adapters</h1>
    <div class="ops-toolbar">
      <label><input type="checkbox" checked=${e} data-testid="auto-refresh"
        onChange=${i=>t(i.currentTarget.checked)} /> Refresh every ${Lt/1e3} s</label>
      <button type="button" onClick=${r} data-testid="refresh">Refresh now</button>
      ${a&&l`<span class="muted" role="status" aria-live="polite">
        ${o.length} adapter${o.length===1?"":"s"}</span>`}
    </div>
    <${x} error=${n} />
    ${s&&!a&&l`<${C} />`}
    ${a&&o.length===0&&l`<p class="muted">No adapters on this node.</p>`}
    ${o.length>0&&l`<div class="table-wrap"><table class="ops" data-testid="adapters-table">
      <caption class="visually-hidden">Adapters with health, breaker, latency and SLA</caption>
      <thead><tr>
        <th scope="col">Adapter</th><th scope="col">Health</th><th scope="col">Breaker</th>
        <th scope="col">Last sync</th><th scope="col">Error rate</th>
        <th scope="col">p50</th><th scope="col">p95</th><th scope="col">p99</th>
        <th scope="col">SLA: target / measured</th>
      </tr></thead>
      <tbody>${o.map(i=>l`<${ga} key=${i.name} adapter=${i} />`)}</tbody>
    </table></div>`}
  </section>`}function ga({adapter:e}){let{target:t,measured:a}=e.sla,n=e.health?.details?.reasons??[],s=e.health?.details?.error?.message??n.join("; ");return l`<tr data-testid="adapter-row" data-adapter=${e.name}>
    <th scope="row">
      <span data-testid="adapter-name">${e.name}</span>
      <div class="muted small"><a href=${T("search",[],{type:e.entity_type})}>${e.entity_type}</a>
        · ${e.domain}.${e.system}</div>
    </th>
    <td data-testid="adapter-health" title=${s||void 0}>
      <span class=${`badge ${e.healthy?e.health.status==="healthy"?"ok":"warn":"bad"}`}>${e.health.status}</span>
      ${e.health.latency_ms!=null&&l`<div class="muted small">probe ${V(e.health.latency_ms)}</div>`}
    </td>
    <td data-testid="adapter-breaker">
      <span class=${`badge ${e.breaker_state==="closed"?"ok":"bad"}`}>${e.breaker_state.replace("_","-")}</span>
      ${e.breaker_state==="open"&&l`<div class="muted small">retry in ${e.breaker_retry_in_seconds.toFixed(0)} s</div>`}
    </td>
    <td data-testid="adapter-last-sync"><${E} value=${e.last_sync_at} /></td>
    <td data-testid="adapter-error-rate">${_e(e.error_rate)}
      <div class="muted small">${e.errors} / ${e.calls} calls</div></td>
    <td class="num" data-testid="adapter-p50">${V(e.latency_ms.p50)}</td>
    <td class="num" data-testid="adapter-p95">${V(e.latency_ms.p95)}</td>
    <td class="num" data-testid="adapter-p99">${V(e.latency_ms.p99)}</td>
    <td class="sla">
      <div data-testid="adapter-sla-availability">availability ${_e(t.availability_target)} /
        ${_e(a.availability)} <${ge} met=${a.met.availability} /></div>
      <div data-testid="adapter-sla-latency">p95 ${V(t.latency_p95_ms)} /
        ${V(a.latency_p95_ms)} <${ge} met=${a.met.latency_p95_ms} /></div>
      <div data-testid="adapter-sla-freshness">freshness ${t.freshness_seconds} s /
        ${a.freshness_seconds==null?"\u2014":`${a.freshness_seconds.toFixed(0)} s`}
        <${ge} met=${a.met.freshness_seconds} /></div>
    </td>
  </tr>`}var It=1e4,$a=20;function Pt({params:e}){let[t]=e,a=I("/api/v1/admin/dlq",{everyMs:It}),n=a.error&&[401,403].includes(a.error.status),s=a.error?.status===404;return l`<section aria-labelledby="dlq-title">
    <h1 id="dlq-title">Dead letters</h1>
    <${Nt} error=${a.error} what="The dead-letter page" testid="dlq-refused" />
    ${s&&l`<${F} what="Dead-letter topics on this node" />`}
    ${!n&&!s&&l`<${x} error=${a.error} />`}
    ${a.loading&&!a.data&&l`<${C} />`}
    ${a.data&&l`<${ba} topics=${a.data.topics} chosen=${t} />`}
    ${a.data&&(t?l`<${ya} key=${t} topic=${t} />`:l`<p class="muted">Choose a topic to see its newest dead letters.</p>`)}
  </section>`}function ba({topics:e,chosen:t}){return e.length===0?l`<p class="muted" data-testid="dlq-empty">No dead-letter topics: nothing failed for good.</p>`:l`<div class="table-wrap"><table class="ops" data-testid="dlq-topics">
    <caption class="visually-hidden">Dead-letter topics</caption>
    <thead><tr><th scope="col">Topic</th><th scope="col">Messages</th>
      <th scope="col">Replayed</th><th scope="col">End offsets</th></tr></thead>
    <tbody>${e.map(a=>l`<tr key=${a.topic} data-testid="dlq-topic" data-topic=${a.topic}
        aria-selected=${a.topic===t?"true":void 0}>
      <th scope="row"><a href=${T("dlq",[a.topic])} data-testid="dlq-topic-link">${a.topic}</a>
        <div class="muted small">from ${a.source_topic}</div></th>
      <td data-testid="dlq-count">${a.messages}</td>
      <td>${a.replayed}</td>
      <td class="small">${Object.entries(a.end_offsets).map(([n,s])=>`p${n}: ${s}`).join(", ")}</td>
    </tr>`)}</tbody>
  </table></div>`}function ya({topic:e}){let{data:t,error:a,loading:n}=I(`/api/v1/admin/dlq/${encodeURIComponent(e)}`,{params:{limit:$a},everyMs:It}),s=t?.dead_letters??[];return l`<div>
    <h2>Newest in ${e}</h2>
    <${x} error=${a} />
    ${n&&!t&&l`<${C} />`}
    ${t&&s.length===0&&l`<p class="muted">No dead letters here.</p>`}
    ${t?.withheld>0&&l`<p class="muted">${t.withheld} of other tenants not shown.</p>`}
    ${s.length>0&&l`<div class="table-wrap"><table class="ops" data-testid="dead-letters">
      <caption class="visually-hidden">Newest dead letters of ${e}</caption>
      <thead><tr><th scope="col">When</th><th scope="col">Key</th><th scope="col">Error</th>
        <th scope="col">From</th><th scope="col">Payload</th></tr></thead>
      <tbody>${s.map(r=>l`<tr key=${r.ref} data-testid="dead-letter" data-key=${r.key??""}>
        <td><${E} value=${r.timestamp} /><div class="muted small">p${r.partition} @ ${r.offset}</div></td>
        <th scope="row" data-testid="dead-letter-key">${r.key??"\u2014"}</th>
        <td data-testid="dead-letter-error"><strong>${(r.error_type??"").split(".").pop()||"\u2014"}</strong>
          <div class="small">${r.error??""}</div>
          ${r.attempts!=null&&l`<div class="muted small">after ${r.attempts} attempts${r.replayed?" \xB7 replayed":""}</div>`}</td>
        <td class="small">${r.original_topic}${r.original_offset!=null?` @ ${r.original_offset}`:""}</td>
        <td>${r.event?l`<details><summary>${r.event.event_type} ${r.event.entity_type}/${r.event.entity_id}
              (${r.payload_size} bytes)</summary>
              <pre class="payload">${JSON.stringify(r.event.payload?.after??{},null,2)}</pre></details>`:l`<span class="muted small">${r.payload_size} bytes · ${r.withheld??r.undecodable??"not shown"}</span>`}</td>
      </tr>`)}</tbody>
    </table></div>`}
  </div>`}function Rt({attributes:e,masked:t,redacted:a,fields:n=[]}){let s=n.map(i=>i.name).filter(i=>i in(e??{})),r=[...s,...Object.keys(e??{}).filter(i=>!s.includes(i))],o=Object.fromEntries(n.map(i=>[i.name,i.classification]));return r.length===0?l`<p class="muted">No attributes recorded.</p>`:l`<table class="attributes">
    <caption class="visually-hidden">Attributes</caption>
    <thead class="visually-hidden"><tr><th scope="col">Field</th><th scope="col">Value</th></tr></thead>
    <tbody>
      ${r.map(i=>{let p=a.has(i)||[...a].some(u=>u.startsWith(`${i}.`)),c=t.has(i)||[...t].some(u=>u.startsWith(`${i}.`));return l`<tr data-testid="attribute" data-field=${i}
          data-masked=${p||c?"true":"false"}>
          <th scope="row">${i}
            ${o[i]&&o[i]!=="public"?l` <span class="tag" title="classification">${o[i]}</span>`:""}
          </th>
          <td>
            ${(p||c)&&e[i]===null?l`<span class="masked">withheld</span>`:l`<${va} value=${e[i]} masked=${c||p} />`}
            ${c&&l` <span class="badge" title="masked by the node's policy">masked</span>`}
          </td>
        </tr>`})}
    </tbody>
  </table>`}function va({value:e,masked:t}){return e==null?l`<span class="muted">—</span>`:typeof e=="object"?l`<pre class=${t?"value masked":"value"}>${JSON.stringify(e,null,2)}</pre>`:l`<span class=${t?"masked":void 0}>${String(e)}</span>`}var He=(e,t)=>`/api/v1/entities/${encodeURIComponent(e)}/${encodeURIComponent(t)}`;function X(e,t,a){let[n,s]=y({data:null,error:null,missing:!1,loading:!0});return S(()=>{if(!e)return;let r=new AbortController;return A(e,{params:t,signal:r.signal}).then(o=>s({data:o,error:null,missing:!1,loading:!1}),o=>{if(r.signal.aborted)return;let i=o?.status===404;s({data:null,error:i?null:o,missing:i,loading:!1})}),()=>r.abort()},a),n}function jt({type:e,id:t,entity:a,reload:n}){let s=X(`${He(e,t)}/cache`,{},[e,t,n]),r=s.data?.layers??[];return l`<section aria-labelledby="fresh-title" data-testid="freshness">
    <h2 id="fresh-title">Freshness and cache</h2>
    <dl class="facts">
      <dt>Catalog updated</dt><dd><${E} value=${a.updated_at} /></dd>
      <dt>Last event</dt><dd><code>${a.last_event_id??"\u2014"}</code></dd>
    </dl>
    ${s.missing&&l`<${F} what="Cache status" />`}
    <${x} error=${s.error} />
    ${s.data&&r.length===0&&l`<p class="muted">Not cached on this node.</p>`}
    ${r.length>0&&l`<table class="attributes" data-testid="cache-layers">
      <thead><tr><th scope="col">Layer</th><th scope="col">State</th><th scope="col">Cached</th>
        <th scope="col">Hits</th></tr></thead>
      <tbody>${r.map(o=>l`<tr>
        <td>${o.layer}</td>
        <td>${o.fresh?"fresh":o.invalidated_at?"invalidated":"expired"}
          ${o.ttl_seconds?l`<span class="muted"> (TTL ${o.ttl_seconds} s)</span>`:""}</td>
        <td><${E} value=${o.cached_at} /></td>
        <td>${o.hits}</td>
      </tr>`)}</tbody>
    </table>`}
  </section>`}function M(e,t=""){return typeof e=="number"?`${Math.round(e*1e3)/1e3}${t}`:"\u2014"}function Dt({type:e}){let t=X("/api/v1/adapters",{},[e]),a=t.data?.adapters?.find(i=>i.entity_type===e)??null,n=X(a?`/api/v1/adapters/${encodeURIComponent(a.name)}/status`:null,{},[a?.name]);if(t.loading)return l`<${C} />`;if(!a)return l`<section aria-labelledby="sla-title"><h2 id="sla-title">Source</h2>
      <p class="muted">No adapter on this node serves ${e}.</p></section>`;let s=n.data?.sla?.target??a.sla??{},r=n.data?.sla?.measured??null,o=n.data;return l`<section aria-labelledby="sla-title" data-testid="source-state">
    <h2 id="sla-title">Source: ${a.name}</h2>
    <table class="attributes" data-testid="sla">
      <thead><tr><th scope="col">SLA</th><th scope="col">Target</th><th scope="col">Measured</th></tr></thead>
      <tbody>
        <tr><td>Availability</td><td>${M(s.availability_target)}</td>
          <td>${r?M(r.availability):"not available"}</td></tr>
        <tr><td>Latency p95</td><td>${M(s.latency_p95_ms," ms")}</td>
          <td>${r?M(r.latency_p95_ms," ms"):"not available"}</td></tr>
        <tr><td>Freshness</td><td>${M(s.freshness_seconds," s")}</td>
          <td>${r?M(r.freshness_seconds," s"):"not available"}</td></tr>
      </tbody>
    </table>
    ${n.missing&&l`<${F} what="Adapter status" />`}
    <${x} error=${n.error} />
    ${o&&l`<dl class="facts" data-testid="adapter-status">
      <dt>Healthy</dt><dd>${o.healthy?"yes":"no"}</dd>
      <dt>Breaker</dt><dd>${o.breaker_state??"\u2014"}</dd>
      <dt>Last sync</dt><dd><${E} value=${o.last_sync_at} /></dd>
      <dt>Error rate</dt><dd>${M(o.error_rate)}</dd>
      <dt>Latency</dt><dd>p50 ${M(o.latency_ms?.p50," ms")} · p95 ${M(o.latency_ms?.p95," ms")}
        · p99 ${M(o.latency_ms?.p99," ms")}</dd>
    </dl>`}
  </section>`}function Mt({type:e,id:t,reload:a}){let n=X(`${He(e,t)}/graph`,{depth:1},[e,t,a]),s=n.data?.edges??[],r=i=>i.type===e&&i.id===t,o=s.map(i=>r(i.subject)?{ref:i.object,label:i.relationship_type,outgoing:!0}:{ref:i.subject,label:i.relationship_type,outgoing:!1});return l`<section aria-labelledby="related-title" data-testid="related">
    <h2 id="related-title">Related entities</h2>
    <${x} error=${n.error} />
    ${n.data&&o.length===0&&l`<p class="muted">None recorded.</p>`}
    <ul class="links">
      ${o.map(({ref:i,label:p,outgoing:c})=>l`<li>
        <span class="muted">${c?p:`${p} (from)`}</span>${" "}
        <a href=${T("entity",[i.type,i.id])} data-testid="related-link">${i.type} ${i.id}</a>
      </li>`)}
    </ul>
    ${n.data?.withheld_nodes?l`<p class="muted">${n.data.withheld_nodes} withheld.</p>`:""}
    <p><a href=${T("graph",[e,t])}>Open the graph</a></p>
  </section>`}function Ot({type:e,id:t}){let a=X(`${He(e,t)}/similar`,{limit:8},[e,t]);if(a.missing||a.loading||a.error?.status===400)return null;let n=a.data?.results??a.data?.similar??[];return l`<section aria-labelledby="similar-title" data-testid="similar">
    <h2 id="similar-title">Similar entities</h2>
    <${x} error=${a.error} />
    ${n.length===0&&!a.error&&l`<p class="muted">None found.</p>`}
    <ul class="links">
      ${n.map(s=>l`<li><a href=${T("entity",[s.entity_type,s.entity_id])}>
        ${s.entity_type} ${s.entity_id}</a>
        ${typeof s.score=="number"?l` <span class="muted">${s.score.toFixed(2)}</span>`:""}
      </li>`)}
    </ul>
  </section>`}var wa="graphql-transport-ws";function Ut({query:e,variables:t,onNext:a,onState:n}){let s=new URL(D.graphqlPath,window.location.href);s.protocol=s.protocol==="https:"?"wss:":"ws:";let r,o=!1,i=p=>o||n?.(p);try{r=new WebSocket(s,wa)}catch{return i("closed"),()=>{}}return i("connecting"),r.onopen=()=>{r.send(JSON.stringify({type:"connection_init",payload:ne()}))},r.onmessage=p=>{let c;try{c=JSON.parse(p.data)}catch{return}c.type==="connection_ack"?(r.send(JSON.stringify({id:"1",type:"subscribe",payload:{query:e,variables:t}})),i("live")):c.type==="ping"?r.send(JSON.stringify({type:"pong"})):c.type==="next"&&c.payload?.data?o||a(c.payload.data):(c.type==="error"||c.type==="complete")&&(i("closed"),r.close())},r.onerror=()=>i("closed"),r.onclose=()=>i("closed"),()=>{o=!0,r.readyState===WebSocket.OPEN&&r.send(JSON.stringify({id:"1",type:"complete"})),r.close()}}var xa=50,ka=2e3,Sa=[300,1e3,2500],Ta=`subscription ($type: String!, $id: ID) {
  entityChanged(type: $type, id: $id) { eventId eventType version }
}`;function Ft(e,t,a){let[n,s]=y({events:null,error:null,mode:"connecting",fresh:new Set}),r=j(new Set),o=j(a);return o.current=a,S(()=>{let i=!1,p=null,c=new Set,u=`/api/v1/entities/${encodeURIComponent(e)}/${encodeURIComponent(t)}/events`;async function m(){try{let h=await A(u,{params:{limit:xa}});if(i)return!1;let g=h?.events??[],v=r.current.size===0,w=new Set(v?[]:g.map(_=>_.event_id).filter(_=>!r.current.has(_)));return g.forEach(_=>r.current.add(_.event_id)),s(_=>({..._,events:g,error:null,fresh:w})),w.size>0&&o.current?.(),w.size>0}catch(h){return i||s(g=>({...g,error:h})),!1}}function f(){p||i||(s(h=>({...h,mode:"polling"})),p=setInterval(m,ka))}async function d(){if(!await m())for(let h of Sa){let g=setTimeout(async()=>{c.delete(g),i||await m()},h);c.add(g)}}m();let $=Ut({query:Ta,variables:{type:e,id:t},onNext:d,onState:h=>{h==="closed"?f():p||s(g=>({...g,mode:h==="live"?"subscription":h}))}});return()=>{i=!0,$(),p&&clearInterval(p),c.forEach(clearTimeout)}},[e,t]),n}function Ht({state:e}){let{events:t,error:a,mode:n,fresh:s}=e;return l`<section aria-labelledby="timeline-title">
    <h2 id="timeline-title">Timeline</h2>
    <p class="muted" data-testid="timeline-mode" data-mode=${n}>
      ${n==="subscription"?"Live: new events appear here as they happen.":n==="polling"?"Checking for new events every 2 seconds.":"Connecting\u2026"}
    </p>
    <${x} error=${a} />
    ${t&&t.length===0&&l`<p class="muted">No events recorded.</p>`}
    <ol class="timeline" aria-live="polite" aria-relevant="additions">
      ${(t??[]).map(r=>l`<li key=${r.event_id} data-testid="timeline-event"
        data-event-id=${r.event_id} data-version=${r.entity_version}
        class=${s.has(r.event_id)?"fresh":void 0}>
        <strong>${r.event_type?.toLowerCase()}</strong>
        <span> · version ${r.entity_version}</span>
        <span> · <${E} value=${r.timestamp??r.recorded_at} /></span>
        ${r.changed_fields?.length>0&&l`<div class="muted">
          changed: ${r.changed_fields.join(", ")}</div>`}
        <div class="muted">event <code title=${r.event_id}>${r.event_id.slice(0,8)}</code>
          from ${r.source_system??"?"} (${r.topic??""})</div>
      </li>`)}
    </ol>
  </section>`}function qt(e,t,a){let[n,s]=y({body:null,headers:new Headers,error:null});return S(()=>{let r=new AbortController;return Oe(`/api/v1/entities/${encodeURIComponent(e)}/${encodeURIComponent(t)}`,{signal:r.signal}).then(({body:o,headers:i})=>s({body:o,headers:i,error:null}),o=>r.signal.aborted||s(i=>({...i,error:o}))),()=>r.abort()},[e,t,a]),n}function zt({params:e}){let[t,a]=e;return!t||!a?l`<section><h1>Entity</h1><p class="muted">Find an entity with the search box.</p></section>`:l`<${Ca} key=${`${t}/${a}`} type=${t} id=${a} />`}function Ca({type:e,id:t}){let[a,n]=y(0),s=qt(e,t,a),r=X(`/api/v1/schemas/${encodeURIComponent(e)}`,{},[e]),o=Ft(e,t,()=>n(p=>p+1)),i=s.body;return l`<article aria-labelledby="entity-title">
    <h1 id="entity-title"><span class="badge">${e}</span> ${t}</h1>
    <${x} error=${s.error} />
    ${!i&&!s.error&&l`<${C} />`}
    ${i&&l`<div class="entity-grid">
      <div>
        <dl class="facts" data-testid="entity-facts">
          <dt>Domain</dt><dd>${i.domain}</dd>
          <dt>Source</dt><dd>${i.source_system} · id ${i.source_entity_id}</dd>
          <dt>Version</dt><dd data-testid="entity-version">${i.version}</dd>
          <dt>Schema version</dt><dd data-testid="schema-version">
            ${$e("schemas")?l`<a href=${T("schemas",[e])}>${i.schema_version}</a>`:i.schema_version}</dd>
          <dt>Status</dt><dd>${i.status}</dd>
          <dt>First seen</dt><dd><${E} value=${i.created_at} /></dd>
        </dl>
        <h2>Attributes</h2>
        <${Rt} attributes=${i.attributes} masked=${Ue(s.headers,"X-DictaMesh-Masked")}
          redacted=${Ue(s.headers,"X-DictaMesh-Redacted")}
          fields=${r.data?.fields??[]} />
        <${Ht} state=${o} />
      </div>
      <div>
        <${jt} type=${e} id=${t} entity=${i} reload=${a} />
        <${Dt} type=${e} />
        <${Mt} type=${e} id=${t} reload=${a} />
        <${Ot} type=${e} id=${t} />
      </div>
    </div>`}
  </article>`}function Bt(){let[e,t]=y({loaded:!1,byType:{},error:null});return S(()=>{let a=new AbortController;return A("/api/v1/schemas",{signal:a.signal}).then(n=>{let s={};for(let r of n?.schemas??[])s[r.entity_type]=r.domain;t({loaded:!0,byType:s,error:null})},n=>a.signal.aborted||t({loaded:!0,byType:{},error:n})),()=>a.abort()},[]),e}var Ea=[["both","Both"],["outgoing","Outgoing"],["incoming","Incoming"]];function Gt({params:e,query:t}){let[a,n]=e,s=Aa(t.get("depth")),r=t.get("direction")??"both",o=t.get("lineage")!=="0";return!a||!n?l`<${Ra} />`:l`<${Ia} key=${`${a}/${n}/${s}/${r}`} type=${a} id=${n}
    depth=${s} direction=${r} lineage=${o} />`}var Wt=null;function Na(){return Wt??=import("./chunk-TUCAMAH2.js"),Wt}function La(){let[e,t]=y(null),[a,n]=y(null);return S(()=>{Na().then(t,s=>n({message:`The graph cannot load: ${s.message}`}))},[]),{module:e,error:a}}function Aa(e){let t=Number.parseInt(e??"2",10);return Number.isFinite(t)?Math.min(Math.max(t,1),5):2}function Ia({type:e,id:t,depth:a,direction:n,lineage:s}){let r=j(null),o=j(null),[i,p]=y({graph:null,error:null,expanding:null}),[c,u]=y({data:null,error:null}),m=Bt(),f=La(),d=f.module;S(()=>{let _=new AbortController;return A(`/api/v1/lineage/${encodeURIComponent(e)}/${encodeURIComponent(t)}`,{signal:_.signal}).then(b=>u({data:b,error:null}),b=>_.signal.aborted||u({data:null,error:b})),()=>_.abort()},[]),S(()=>{o.current&&c.data&&d&&d.showLineage(o.current,d.lineageElements(c.data,{type:e,id:t}),s)},[c.data,s,d]),S(()=>{let _=new AbortController;return A(`/api/v1/entities/${encodeURIComponent(e)}/${encodeURIComponent(t)}/graph`,{params:{depth:a,direction:n},signal:_.signal}).then(b=>p({graph:b,error:null,expanding:null}),b=>_.signal.aborted||p({graph:null,error:b,expanding:null})),()=>_.abort()},[]),S(()=>{!i.graph||!m.loaded||!r.current||!d||(o.current?d.mergeGraph(o.current,i.graph,m.byType):(o.current=d.drawGraph(r.current,i.graph,m.byType,{onExpand:$,onOpen:_=>P("entity",[_.type,_.id])}),window.__dictameshGraph=o.current,c.data&&d.showLineage(o.current,d.lineageElements(c.data,{type:e,id:t}),s)))},[i.graph,m.loaded,d]),S(()=>()=>{o.current?.destroy(),window.__dictameshGraph===o.current&&(window.__dictameshGraph=void 0)},[]);async function $(_){p(b=>({...b,expanding:`${_.type}/${_.id}`}));try{let b=await A(`/api/v1/entities/${encodeURIComponent(_.type)}/${encodeURIComponent(_.id)}/graph`,{params:{depth:1,direction:n}});p(O=>({...O,graph:b,expanding:null,error:null}))}catch(b){p(O=>({...O,expanding:null,error:b}))}}function h(_,b){let O={depth:a,direction:n,lineage:s?"1":"0",[_]:b};P("graph",[e,t],O,{replace:!0})}let g=i.graph,v=Ve(m.byType),w=(g?.nodes??[]).some(_=>!m.byType[_.type]);return l`<section aria-labelledby="graph-title">
    <h1 id="graph-title">Graph of <a href=${T("entity",[e,t])}>${e} ${t}</a></h1>
    <div class="graph-controls">
      <label>Depth
        <select data-testid="graph-depth" value=${String(a)}
          onChange=${_=>h("depth",_.currentTarget.value)}>
          ${[1,2,3,4,5].map(_=>l`<option value=${String(_)}>${_}</option>`)}
        </select>
      </label>
      <label>Direction
        <select data-testid="graph-direction" value=${n}
          onChange=${_=>h("direction",_.currentTarget.value)}>
          ${Ea.map(([_,b])=>l`<option value=${_}>${b}</option>`)}
        </select>
      </label>
      <label class="inline"><input type="checkbox" data-testid="graph-lineage" checked=${s}
        onChange=${_=>h("lineage",_.currentTarget.checked?"1":"0")} /> Lineage</label>
      <button type="button" onClick=${()=>o.current?.fit(void 0,30)}>Fit</button>
      <span class="muted" role="status" aria-live="polite">
        ${i.expanding?`Expanding ${i.expanding}\u2026`:""}
        ${g?.truncated?"Truncated: more entities lie within this depth.":""}
        ${g?.withheld_nodes?` ${g.withheld_nodes} entities withheld.`:""}
        ${s&&c.data?.withheld_edges?` ${c.data.withheld_edges} flows withheld.`:""}
      </span>
    </div>
    <${x} error=${i.error||f.error||m.error||(s?c.error:null)} />
    ${!g&&!i.error&&l`<${C} />`}
    <div class="graph-area">
      <div class="graph" ref=${r} data-testid="graph" role="img"
        aria-label=${`Relationship graph around ${e} ${t}; the list below holds the same entities`}></div>
      <aside aria-label="Legend">
        <h2>Domains</h2>
        <ul class="legend" data-testid="graph-legend">
          ${Object.entries(v).map(([_,b])=>l`<li><span class="swatch"
            style=${{background:b}}></span>${_}</li>`)}
          ${w&&l`<li><span class="swatch" style=${{background:Je}}>
            </span>no schema here</li>`}
          ${s&&c.data&&l`<li><span class="swatch swatch-dataset"></span>
            dataset (lineage, dashed)</li>`}
        </ul>
        <p class="muted">Click a node to expand it; double-click to open it. Scroll to zoom,
          drag to pan.</p>
      </aside>
    </div>
    ${g&&l`<${Pa} cy=${o} graph=${g} />`}
  </section>`}function Pa({graph:e}){let t=e.nodes??[];return l`<details class="node-list">
    <summary>${t.length} entities in this graph</summary>
    <ul class="links">
      ${t.map(a=>l`<li><a href=${T("entity",[a.type,a.id])}>
        ${a.type} ${a.id}</a></li>`)}
    </ul>
  </details>`}function Ra(){let[e,t]=y(""),[a,n]=y("");function s(r){r.preventDefault(),e.trim()&&a.trim()&&P("graph",[e.trim(),a.trim()])}return l`<section aria-labelledby="graph-title">
    <h1 id="graph-title">Graph</h1>
    <p class="muted">Open an entity's graph from its page, or name one here.</p>
    <form class="graph-controls" onSubmit=${s}>
      <label>Entity type <input value=${e} onInput=${r=>t(r.currentTarget.value)} /></label>
      <label>Id <input value=${a} onInput=${r=>n(r.currentTarget.value)} /></label>
      <button type="submit">Show graph</button>
    </form>
  </section>`}var qe=5e3;function Kt(){return l`<section aria-labelledby="notifications-title">
    <h1 id="notifications-title">Notifications</h1>
    <${ja} />
    <${Da} />
  </section>`}function ja(){let[e,t]=y(!1),{data:a,error:n,loading:s,reload:r}=I("/api/v1/notifications",{params:{limit:50,unread:e?"true":""},everyMs:qe}),[o,i]=y(null);async function p(m){i(null);try{await he("/api/v1/notifications/read",{ids:m}),r()}catch(f){i(f)}}if(n?.status===404&&!a)return l`<${F} what="Notifications on this node" />`;if(n?.status===401)return l`<p class="banner banner-warn" role="alert" data-testid="inbox-login">
      Log in to see your inbox.</p>`;let c=a?.items??[],u=c.filter(m=>!m.read).map(m=>m.id);return l`<div>
    <h2>Inbox ${a&&l`<span class="badge" data-testid="inbox-unread">${a.unread} unread</span>`}</h2>
    <div class="ops-toolbar">
      <label><input type="checkbox" checked=${e} data-testid="inbox-unread-only"
        onChange=${m=>t(m.currentTarget.checked)} /> Unread only</label>
      <button type="button" data-testid="inbox-mark-all" disabled=${u.length===0}
        onClick=${()=>p(u)}>Mark all read</button>
    </div>
    <${x} error=${n??o} />
    ${s&&!a&&l`<${C} />`}
    ${a&&c.length===0&&l`<p class="muted">Nothing here.</p>`}
    ${c.length>0&&l`<ul class="notice-list" data-testid="inbox">${c.map(m=>l`<li key=${m.id}
        class=${m.read?"":"unread"} data-testid="notification" data-id=${m.id}>
      <span class=${`badge ${m.priority==="high"||m.priority==="urgent"?"bad":""}`}>${m.priority}</span>
      <span class="notice-text"><span>${m.subject}</span>
        ${m.text&&l`<div class="small muted">${m.text}</div>`}</span>
      <${E} value=${m.created_at} />
      ${m.read?l`<span class="muted small">read</span>`:l`<button type="button" data-testid="notification-mark-read" onClick=${()=>p([m.id])}
            aria-label=${`Mark "${m.subject}" read`}>Mark read</button>`}
    </li>`)}</ul>`}
  </div>`}function Da(){let e=I("/api/v1/admin/notifications/outbox",{everyMs:qe}),t=I("/api/v1/admin/notifications",{params:{limit:50},everyMs:qe});if(e.error&&[401,403,404].includes(e.error.status))return l`<p class="muted small" data-testid="outbox-admin-only">
      The outbox and its delivery state are shown to administrators.</p>`;let a=t.data?.notifications??[];return l`<div data-testid="outbox">
    <h2>Outbox ${e.data&&l`<span class="badge" data-testid="outbox-depth">${e.data.depth} waiting</span>`}</h2>
    <${x} error=${t.error??e.error} />
    ${t.loading&&!t.data&&l`<${C} />`}
    ${t.data&&a.length===0&&l`<p class="muted">No messages.</p>`}
    ${a.length>0&&l`<div class="table-wrap"><table class="ops" data-testid="outbox-table">
      <caption class="visually-hidden">Newest outbox messages</caption>
      <thead><tr><th scope="col">Subject</th><th scope="col">Rule</th><th scope="col">Recipient</th>
        <th scope="col">Channel</th><th scope="col">Status</th><th scope="col">Attempts</th>
        <th scope="col">Created</th><th scope="col">Sent</th><th scope="col">Last error</th></tr></thead>
      <tbody>${a.map(n=>l`<tr key=${n.id} data-testid="outbox-row" data-id=${n.id}>
        <th scope="row">${n.subject}</th><td>${n.rule}</td><td class="small">${n.recipient}</td>
        <td>${n.channel}</td>
        <td data-testid="outbox-status"><span class=${`badge ${n.status==="sent"?"ok":n.status==="dead"||n.status==="failed"?"bad":"warn"}`}>${n.status}</span></td>
        <td>${n.attempts}</td><td><${E} value=${n.created_at} /></td><td><${E} value=${n.sent_at} /></td>
        <td class="small">${n.last_error??""}</td>
      </tr>`)}</tbody>
    </table></div>`}
  </div>`}var Ma=["running","compensating","completed","compensated","failed","aborted"],Jt=3e3;function Vt({params:e,query:t}){let[a]=e,n=t.get("status")??"",s=I("/api/v1/sagas",{params:{status:n,limit:50},everyMs:Jt});if(s.error?.status===404&&!s.data)return l`<section><h1>Sagas</h1><${F} what="Sagas on this node" /></section>`;let r=s.data?.sagas??[];return l`<section aria-labelledby="sagas-title">
    <h1 id="sagas-title">Sagas</h1>
    <form class="ops-form" onSubmit=${o=>o.preventDefault()}>
      <label>Status
        <select data-testid="saga-status-filter" value=${n}
          onChange=${o=>P("sagas",a?[a]:[],{status:o.currentTarget.value},{replace:!0})}>
          <option value="">any</option>
          ${Ma.map(o=>l`<option value=${o}>${o}</option>`)}
        </select></label>
    </form>
    <${x} error=${s.error} />
    ${s.loading&&!s.data&&l`<${C} />`}
    <div class="ops-split">
      <div>${s.data&&(r.length===0?l`<p class="muted">No sagas${n?` with status ${n}`:""}.</p>`:l`<div class="table-wrap"><table class="ops" data-testid="sagas-table">
            <caption class="visually-hidden">Newest sagas</caption>
            <thead><tr><th scope="col">Saga</th><th scope="col">Status</th><th scope="col">Started</th></tr></thead>
            <tbody>${r.map(o=>l`<tr key=${o.id} data-testid="saga-row" data-saga-id=${o.id}
                aria-selected=${o.id===a?"true":void 0}>
              <th scope="row"><a href=${T("sagas",[o.id],{status:n})}>${o.saga}</a>
                <div class="muted small">${o.id.slice(0,8)}</div></th>
              <td data-testid="saga-status"><${ze} status=${o.status} /></td>
              <td><${E} value=${o.created_at} /></td>
            </tr>`)}</tbody>
          </table></div>`)}</div>
      <div>${a?l`<${Oa} key=${a} id=${a} onChanged=${s.reload} />`:l`<p class="muted">Choose a saga to see its steps.</p>`}</div>
    </div>
  </section>`}function ze({status:e}){let t={completed:"ok",compensated:"warn",failed:"bad",aborted:"bad"}[e]??"";return l`<span class=${`badge ${t}`}>${e}</span>`}function Oa({id:e,onChanged:t}){let{data:a,error:n,loading:s,reload:r}=I(`/api/v1/sagas/${encodeURIComponent(e)}`,{everyMs:Jt}),[o,i]=y({busy:!1,error:null,done:null});async function p(c){i({busy:!0,error:null,done:null});try{await he(`/api/v1/admin/sagas/${encodeURIComponent(e)}/${c}`),i({busy:!1,error:null,done:c==="retry"?"Compensating again.":"Aborted."}),r(),t()}catch(u){i({busy:!1,error:u,done:null})}}return s&&!a?l`<${C} />`:a?l`<div data-testid="saga-detail">
    <h2>${a.saga} <${ze} status=${a.status} /></h2>
    <dl class="facts">
      <dt>Id</dt><dd data-testid="saga-id">${a.saga_id}</dd>
      <dt>Started by</dt><dd>${a.started_by??"\u2014"}</dd>
      <dt>Started</dt><dd><${E} value=${a.created_at} /></dd>
      <dt>Finished</dt><dd><${E} value=${a.finished_at} /></dd>
      ${a.failed_step&&l`<dt>Failed step</dt><dd>${a.failed_step}</dd>`}
      ${a.error&&l`<dt>Error</dt><dd>${a.error.message??JSON.stringify(a.error)}</dd>`}
    </dl>
    ${a.status==="failed"&&l`<div class="ops-toolbar" role="group" aria-label="Admin actions">
      <button type="button" data-testid="saga-retry" disabled=${o.busy} onClick=${()=>p("retry")}>
        Retry compensation</button>
      <button type="button" data-testid="saga-abort" disabled=${o.busy} onClick=${()=>p("abort")}>
        Abort</button>
    </div>`}
    ${o.done&&l`<p class="banner banner-warn" role="status" data-testid="saga-action-done">${o.done}</p>`}
    <${x} error=${o.error} />
    <h2>Steps</h2>
    ${a.steps.length===0?l`<p class="muted">No step has run yet.</p>`:l`<ol class="steps" data-testid="saga-steps">${a.steps.map(c=>l`<li
          class=${c.status} data-testid="saga-step" data-step=${c.step} data-phase=${c.phase}>
          <strong>${c.step}</strong> <span class="muted">${c.phase}</span>
          <${ze} status=${c.status} />
          ${c.attempt>1?l` <span class="small">attempt ${c.attempt}</span>`:""}
          <div class="muted small"><${E} value=${c.at} />
            ${c.duration_ms!=null?` \xB7 ${c.duration_ms} ms`:""}${c.node?` \xB7 ${c.node}`:""}</div>
          ${c.error&&l`<div class="small">${c.error.message??JSON.stringify(c.error)}</div>`}
        </li>`)}</ol>`}
  </div>`:l`<${x} error=${n} />`}function Xt({params:e,query:t}){let[a]=e,{data:n,error:s,loading:r}=I("/api/v1/schema-subjects",{params:{limit:500}}),o=n?.subjects??[],i=o.find(p=>p.subject===a);return l`<section aria-labelledby="schemas-title">
    <h1 id="schemas-title">Schemas</h1>
    <${x} error=${s} />
    ${r&&!n&&l`<${C} />`}
    ${n&&l`<p class="muted">Default compatibility:
      <strong data-testid="global-compatibility">${n.compatibility}</strong>
      ${n.truncated?" \xB7 only the first 500 subjects":""}</p>`}
    ${n&&l`<div class="ops-split">
      <${Ua} subjects=${o} chosen=${a} />
      <div>${i?l`<${Fa} key=${i.subject} subject=${i} query=${t} />`:l`<p class="muted">${a?`No subject ${a}.`:"Choose a subject to compare its versions."}</p>`}</div>
    </div>`}
  </section>`}function Ua({subjects:e,chosen:t}){return e.length===0?l`<p class="muted">No schemas registered yet.</p>`:l`<div class="table-wrap"><table class="ops" data-testid="schema-subjects">
    <caption class="visually-hidden">Schema subjects</caption>
    <thead><tr><th scope="col">Subject</th><th scope="col">Type</th>
      <th scope="col">Versions</th><th scope="col">Compatibility</th></tr></thead>
    <tbody>${e.map(a=>l`<tr key=${a.subject} data-testid="schema-subject" data-subject=${a.subject}
        aria-selected=${a.subject===t?"true":void 0}>
      <th scope="row"><a href=${T("schemas",[a.subject])}>${a.subject}</a></th>
      <td class="small">${a.schema_type}</td>
      <td data-testid="schema-versions">${a.versions.join(", ")}</td>
      <td data-testid="schema-compatibility">${a.compatibility}${a.compatibility_configured?"":l` <span class="muted small">(default)</span>`}</td>
    </tr>`)}</tbody>
  </table></div>`}function Fa({subject:e,query:t}){let a=e.versions,n=Number(t.get("to"))||a[a.length-1],s=a.filter(f=>f<n),r=Number(t.get("from"))||s[s.length-1],o=a.length>1&&r&&r<n,{data:i,error:p,loading:c}=I(o?`/api/v1/schemas/${encodeURIComponent(e.subject)}/diff`:null,{params:{from:r,to:n}});function u(f,d){let $={from:r,to:n,[f]:d};P("schemas",[e.subject],$,{replace:!0})}let m=(f,d,$)=>l`<label>${d}
    <select data-testid=${`diff-${f}`} value=${$}
      onChange=${h=>u(f,Number(h.currentTarget.value))}>
      ${a.map(h=>l`<option value=${h}>${h}</option>`)}
    </select></label>`;return l`<div>
    <h2>${e.subject}</h2>
    <p>Compatibility mode: <strong data-testid="subject-compatibility">${e.compatibility}</strong></p>
    ${a.length<2?l`<p class="muted">Only one version: nothing to compare.</p>`:l`<form class="ops-form" onSubmit=${f=>f.preventDefault()} aria-label="Versions to compare">
          ${m("from","From version",r)} ${m("to","To version",n)}
        </form>`}
    ${a.length>1&&!o&&l`<p class="banner banner-warn" role="status">
      Choose a "from" version below the "to" version.</p>`}
    <${x} error=${o?p:null} />
    ${o&&c&&!i&&l`<${C} label="Comparing…" />`}
    ${o&&i&&l`<${Ha} diff=${i} />`}
  </div>`}function Ha({diff:e}){return l`<div data-testid="schema-diff">
    <p role="status" aria-live="polite" data-testid="diff-verdict">
      ${e.from} → ${e.to}:
      ${e.compatible?l`<span class="badge ok">compatible</span>`:l`<span class="badge bad">breaking</span>`} under ${e.compatibility}
    </p>
    ${e.changes.length===0?l`<p class="muted">No changes.</p>`:l`<table class="ops" data-testid="schema-changes">
          <caption class="visually-hidden">Changes from version ${e.from} to ${e.to}</caption>
          <thead><tr><th scope="col">Severity</th><th scope="col">Change</th><th scope="col">What</th></tr></thead>
          <tbody>${e.changes.map(t=>l`<tr data-testid="schema-change" data-code=${t.code}>
            <td><span class=${`badge ${t.severity}`}>${t.severity}</span></td>
            <td class="small">${t.code}</td><td>${t.message}</td>
          </tr>`)}</tbody>
        </table>`}
  </div>`}var qa=150,za=25,Ba=[["hybrid","Hybrid"],["text","Text"],["semantic","Semantic"]],Wa=[["type","type","Type"],["domain","domain","Domain"],["source","source","Source"],["classification",null,"Classification"]],Yt=["type","domain","source"];function Zt({query:e}){let t=(e.get("q")??"").trim(),a=e.get("mode")??"hybrid",n=Object.fromEntries(Yt.map(h=>[h,e.get(h)??""])),[s,r]=y({answer:null,error:null,loading:!1}),o=JSON.stringify(n),i=`${a}:${t}:${o}`;S(()=>{if(!t){r({answer:null,error:null,loading:!1});return}let h=new AbortController;r(v=>({...v,loading:!0}));let g=setTimeout(async()=>{try{let v=await A("/api/v1/search",{params:{q:t,mode:a,limit:za,...n},signal:h.signal});r({answer:v,error:null,loading:!1,key:i})}catch(v){fe(v)||r({answer:null,error:v,loading:!1})}},qa);return()=>{clearTimeout(g),h.abort()}},[t,a,o]);function p(h,g){let v=Object.fromEntries(e);g?v[h]=g:delete v[h],P("search",[],v,{replace:!0})}let{answer:c,error:u,loading:m}=s,f=s.key===i?"current":"stale",d=c?.results??[],$=Yt.filter(h=>n[h]);return l`<section class="search-page" aria-labelledby="search-title">
    <h1 id="search-title">Search</h1>
    <fieldset class="modes">
      <legend>Mode</legend>
      ${Ba.map(([h,g])=>l`<label class="mode">
        <input type="radio" name="mode" value=${h} checked=${a===h}
          data-testid=${`mode-${h}`} onChange=${()=>p("mode",h)} />
        ${g}
      </label>`)}
    </fieldset>
    ${$.length>0&&l`<p class="active-filters">Filtered by
      ${$.map(h=>l` <button type="button" class="chip" data-testid="active-filter"
        onClick=${()=>p(h,"")} aria-label=${`Remove filter ${h} ${n[h]}`}>
        ${h}: ${n[h]} ✕</button>`)}
    </p>`}
    <${x} error=${u} />
    ${c?.degraded&&l`<p class="banner banner-warn" role="status" data-testid="degraded">
      Semantic search is unavailable here; these are text results.
      ${c.degraded_reason?l` <span class="muted">(${c.degraded_reason})</span>`:""}</p>`}
    <div class=${c?.facets?"search-layout with-facets":"search-layout"}>
      <${Ka} facets=${c?.facets} filters=${n} onPick=${p} />
      <div class="search-results" aria-busy=${m?"true":"false"}
        data-testid="search-results" data-answer=${c?f:""}>
        ${!t&&l`<p class="muted">Type in the search box above: names, ids, emails,
          descriptions. Spelling mistakes are tolerated.</p>`}
        ${t&&m&&!c&&l`<${C} label="Searching…" />`}
        ${t&&c&&l`<p class="muted" role="status" aria-live="polite"
          data-testid="result-count">
          ${d.length===0?"No results.":`${d.length} result${d.length===1?"":"s"}`}
          ${c.mode&&c.mode!==a?` (${c.mode})`:""}
        </p>`}
        ${d.length>0&&l`<${Ga} results=${d} />`}
      </div>
    </div>
  </section>`}function Ga({results:e}){let t=j(null);function a(n){let s=[...t.current.querySelectorAll('[data-testid="search-result"]')],r=s.indexOf(document.activeElement),o=null;n.key==="ArrowDown"?o=s[Math.min(r+1,s.length-1)]:n.key==="ArrowUp"?o=r<=0?document.getElementById("search-input"):s[r-1]:n.key==="Home"?o=s[0]:n.key==="End"&&(o=s[s.length-1]),o&&(n.preventDefault(),o.focus())}return l`<ol id="search-results" class="results" ref=${t} onKeyDown=${a}
    aria-label="Search results">
    ${e.map(n=>l`<li key=${`${n.entity_type}/${n.entity_id}`}>
      <a class="result" href=${T("entity",[n.entity_type,n.entity_id])}
        data-testid="search-result" data-entity-type=${n.entity_type}
        data-entity-id=${n.entity_id}>
        <span class="badge">${n.entity_type}</span>
        <span class="result-id">${n.label??n.entity_id}</span>
        ${n.domain&&l`<span class="muted">${n.domain}</span>`}
        <span class="result-meta muted">
          ${n.matched?.length?`matched ${n.matched.join(", ")}`:""}
          ${n.sources?.length?` \xB7 ${n.sources.join(" + ")}`:""}
          ${typeof n.score=="number"?` \xB7 score ${n.score.toFixed(3)}`:""}
        </span>
      </a>
    </li>`)}
  </ol>`}function Qt(e){return Array.isArray(e)?e.map(t=>({value:String(t.value??t.key??t.name??""),count:t.count??0})).filter(t=>t.value):e&&typeof e=="object"?Object.entries(e).map(([t,a])=>({value:t,count:Number(a)||0})):[]}function Ka({facets:e,filters:t,onPick:a}){if(!e||typeof e!="object")return null;let n=Wa.filter(([s])=>Qt(e[s]).length>0);return n.length===0?null:l`<aside class="facets" aria-label="Filters">
    ${n.map(([s,r,o])=>l`<section class="facet-group">
      <h2>${o}</h2>
      <ul>
        ${Qt(e[s]).map(({value:i,count:p})=>{if(!r)return l`<li class="facet" data-testid="facet" data-facet=${s} data-value=${i}>
              ${i} <span class="count">${p}</span></li>`;let c=t[r]===i;return l`<li><button type="button" class="facet" data-testid="facet"
            data-facet=${r} data-value=${i} aria-pressed=${c?"true":"false"}
            onClick=${()=>a(r,c?"":i)}>
            ${i} <span class="count">${p}</span>
          </button></li>`})}
      </ul>
    </section>`)}
  </aside>`}var Be=[{path:"search",title:"Search",nav:!0,component:Zt},{path:"graph",title:"Graph",nav:!0,component:Gt},{path:"entity",title:"Entity",nav:!1,component:zt},{path:"adapters",title:"Adapters",nav:!0,component:At},{path:"schemas",title:"Schemas",nav:!0,component:Xt},{path:"sagas",title:"Sagas",nav:!0,component:Vt},{path:"notifications",title:"Notifications",nav:!0,component:Kt},{path:"dlq",title:"DLQ",nav:!0,component:Pt}],We="search";function $e(e){return Be.find(t=>t.path===e)??null}function ea(){let e=Et(),[t,a]=y(me),[n,s]=y(null),[r,o]=y(!1);S(()=>wt(f=>{je(),a(null),s(f.message||"Your credentials were refused; log in again."),o(!0)}),[]);let i=$e(e.page);S(()=>{i||P(We,[],{},{replace:!0}),document.title=i?`${i.title} \xB7 DictaMesh`:"DictaMesh"},[i]);let p=D.auth!=="off"&&!t&&(D.auth==="required"||r);function c(f){a(f),s(null),o(!1)}function u(){je(),a(null),s(null),o(D.auth==="required")}let m=i?.component;return l`
    <header class="shell-header">
      <a class="brand" href=${T(We)}>DictaMesh</a>
      <${Va} route=${e} />
      <nav aria-label="Main">
        <ul class="nav">
          ${Be.filter(f=>f.nav).map(f=>l`<li>
            <a href=${T(f.path)} aria-current=${e.page===f.path?"page":void 0}>
              ${f.title}
            </a>
          </li>`)}
        </ul>
      </nav>
      <${Ja} session=${t} onLogin=${()=>o(!0)}
        onLogout=${u} />
    </header>
    <main id="main" tabindex="-1">
      ${p?l`<${Tt} message=${n} onLogin=${c} />`:m?l`<${m} key=${e.page} params=${e.params} query=${e.query}
              session=${t} />`:null}
    </main>`}function Ja({session:e,onLogin:t,onLogout:a}){if(D.auth==="off")return null;if(!e)return l`<div class="session">
      <button type="button" data-testid="login-open" onClick=${t}>Log in</button>
    </div>`;let n=e.apiKey?"API key":"token";return l`<div class="session">
    <span class="muted" data-testid="session-who">
      ${n}${e.tenant?` \xB7 tenant ${e.tenant}`:""}
    </span>
    <button type="button" data-testid="logout" onClick=${a}>Log out</button>
  </div>`}function Va({route:e}){let t=e.page==="search",a=t?e.query.get("q")??"":void 0,n=j(null);function s(o){let i=t?Object.fromEntries(e.query):{};i.q=o.currentTarget.value,P("search",[],i,{replace:t})}function r(o){if(o.key==="ArrowDown"){let i=document.querySelector('[data-testid="search-result"]');i&&(o.preventDefault(),i.focus())}}return S(()=>{t&&document.activeElement!==n.current&&a&&n.current?.focus()},[t]),l`<form class="search-box" role="search" onSubmit=${o=>o.preventDefault()}>
    <label for="search-input" class="visually-hidden">Search the catalog</label>
    <input id="search-input" ref=${n} data-testid="search-input" type="search"
      placeholder="Search customers, products, invoices…" autocomplete="off"
      spellcheck="false" value=${a} onInput=${s} onKeyDown=${r}
      aria-controls="search-results" />
  </form>`}Ee(l`<${ea} />`,document.getElementById("app"));
