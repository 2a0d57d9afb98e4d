import{a as je,b as He}from"./chunk-2WCAQH4S.js";var x,ze,Ot,M,ue,ne,Be,ee,Ge,_e,pe,Ut,V=Symbol.for("pv"),re={},ae=[],Mt=/^m(i|n|o|s|text|space)$/,fe=Array.isArray,me=ae.slice,G=Object.assign;function B(t){t&&t.parentNode&&t.remove()}function he(t,e,n){var a,s,r,i={},o=arguments.length;for(r in e)r=="key"?a=e[r]:r=="ref"&&typeof t!="function"?s=e[r]:i[r]=e[r];return o>2&&(i.children=o>3?me.call(arguments,2):n),K(t,i,a,s,null)}function K(t,e,n,a,s){var r={type:t,props:e,key:n,ref:a,__k:null,__:null,__b:0,__e:null,__c:null,constructor:V,__v:s||++ze,__i:-1,__u:0};return!s&&x.vnode&&x.vnode(r),r}function oe(t){return t.children}function J(t,e){this.props=t,this.context=e,this.__g=0}function j(t,e){if(e==null)return t.__&&j(t.__,t.__i+1);for(var n;e<t.__k.length;e++)if((n=t.__k[e])&&n.__e)return n.__e;return typeof t.type!="function"||t.props.__P?null:j(t)}function jt(t){var e,n=t.__v,a=n.__e,s=[],r=[],i=t.__P;i&&((e=G({constructor:V},n)).__v=n.__v+1,x.vnode&&x.vnode(e),ge(i,e,n,t.__n,i.namespaceURI,32&n.__u?[a]:null,s,a||j(n),32&n.__u,r),e.__v=n.__v,e.__.__k[e.__i]=e,Ye(s,e,r),n.__=n.__e=null,e.__e!=a&&We(e))}function We(t){if((t=t.__)&&t.__c&&!t.props.__P)return t.__e=null,t.__k.some(function(e){return e&&(t.__e=e.__e)}),We(t)}function Fe(t){(8&t.__g||(t.__g|=8,M.push(t),ne++))&&ue==x.debounceRendering||((ue=x.debounceRendering)||queueMicrotask)(Ke)}function Ke(){try{for(var t,e=1;M.length;)M.length>e&&M.sort(Be),t=M.shift(),e=M.length,8&t.__g&&jt(t)}finally{(ne=M.length)&&(ue||queueMicrotask)(Ke)}}function Je(t,e,n,a,s,r,i,o,u,p,c){var g,m,l,y,f,h,b=a.__k||ae,v=e.length;for(u=Ht(n,e,b,u,v),g=0;g<v;g++)(l=n.__k[g])!=null&&(m=~l.__i&&b[l.__i]||re,l.__i=g,h=ge(t,l,m,s,r,i,o,u,p,c),y=l.__e,(m.ref!=l.ref||8&m.__u)&&(m.ref&&ye(m.ref,null,l,m),l.ref&&c.push(l.ref,l.__c||y,l)),f=f||y,4&l.__u?(u=Ve(l,u,t,!m.__v),m.__e&&(m.__e=null)):typeof l.type=="function"&&h!==void 0?u=h:y&&(u=y.nextSibling),l.__u&=-21);return n.__e=f,u}function Ht(t,e,n,a,s){var r,i,o,u,p,c,g,m,l,y=n.length,f=y,h=0,b=0,v=t.__k=Array(s);for(r=0;r<s;r++)(i=e[r])!=null&&typeof i!="boolean"&&typeof i!="function"?(typeof i!="object"||i.constructor===String?i=v[r]=K(null,i):fe(i)?i=v[r]=K(oe,{children:i}):i.constructor===V&&i.__b?i=v[r]=K(i.type,i.props,i.key,i.ref,i.__v):v[r]=i,u=r+h,i.__=t,i.__b=t.__b+1,o=null,~(p=i.__i=Ft(i,n,u,f))&&(f--,(o=n[p])&&(o.__u|=2)),o&&o.__v?(i.__u|=16,p==u-1?h--:p==u+1?h++:p!=u&&(p>u?h--:h++,b=1)):(~p||(s>y?h--:s<y&&h++),typeof i.type!="function"&&(i.__u|=4))):v[r]=null;if(b){for(c=[],g=[],r=0;r<s;r++)if((i=v[r])&&16&i.__u){for(h=0,m=c.length;h<m;)c[l=h+m>>1]<i.__i?h=l+1:m=l;c[h]=i.__i,g[r]=h+1}for(h=c.length;r--;)g[r]&&(g[r]==h?h--:v[r].__u|=4)}if(f)for(r=0;r<y;r++)!(o=n[r])||2&o.__u||(o.__e==a&&(a=j(o)),$e(o,o));return a}function Ve(t,e,n,a){var s,r,i,o;if(typeof t.type=="function"){if(t.props.__P)return e;if(s=t.__k)for(r=0;r<s.length;r++)s[r]&&(s[r].__=t,e=Ve(s[r],e,n,!1));return e}for(e&&!e.parentNode&&(e=j(t))&&!e.parentNode&&(e=null),i=t.__e,o=e;o&&o.nodeType==8;)o=o.nextSibling;for(i!=o&&(!a&&n.moveBefore&&i.parentNode?n.moveBefore(i,e):n.insertBefore(i,e||null)),e=i;(e=e&&e.nextSibling)&&e.nodeType==8&&!e.data.startsWith("$s"););return e}function Ft(t,e,n,a){var s,r=t.key,i=t.type,o=e[n],u=o&&!(2&o.__u);if(o===null&&r==null||u&&r==o.key&&i==o.type)return n;if(a>(u?1:0)){for(s=n-1;s>=0;s--)if((o=e[s])&&!(2&o.__u)&&r==o.key&&i==o.type)return s;for(s=n+1;s<e.length;s++)if((o=e[s])&&!(2&o.__u)&&r==o.key&&i==o.type)return s}return-1}function qe(t,e,n){n==null&&(n=""),e[0]=="-"?t.setProperty(e,n):t[e]=n}function Z(t,e,n,a,s){var r,i;if(e=="style")if(typeof n=="string")t.style.cssText=n;else{if(typeof a=="string"&&(t.style.cssText=a=""),a)for(e in a)n&&e in n||qe(t.style,e);if(n)for(e in n)a&&n[e]==a[e]||qe(t.style,e,n[e])}else if(e[0]=="o"&&e[1]=="n")typeof n!="function"&&(n=null),typeof a!="function"&&(a=null),(t.__e||(t.__e={}))[e]=n,n&&a||(i=pe[e]||(pe[e]=qt(e)),(t.__a||(t.__a={}))[e]=_e,r=e!=(e=e.replace(Ge,"$1")),(e=e.slice(2))[0]<"a"&&(e=e.toLowerCase()),n?t.addEventListener(e,i,r):t.removeEventListener(e,i,r));else{if(s=="http://www.w3.org/2000/svg")e=e.replace(/xlink(H|:h)/,"h").replace(/sName$/,"s");else if(e!="width"&&e!="height"&&e!="href"&&e!="list"&&e!="form"&&e!="tabIndex"&&e!="download"&&e!="rowSpan"&&e!="colSpan"&&e!="role"&&e!="popover"&&e in t)try{return void(t[e]=n??"")}catch{}if(typeof n=="function")return;n==null||n===!1&&e[4]!="-"?t.removeAttribute(e):t.setAttribute(e,e=="popover"&&n==1?"":n)}}function qt(t){return function(e){var n=this.__e;if(n){if(n=n[t],e[ee]==null)e[ee]=_e++;else if(e[ee]<this.__a[t])return;return n(x.event?x.event(e):e)}}}function ge(t,e,n,a,s,r,i,o,u,p){var c,g,m,l,y,f,h,b,v,_,$,D,Ue,Q,q,Me,U,z,R=e.type;if(e.constructor!==V)return null;128&n.__u&&(u=32&n.__u,c=n.__c.__z)&&(e.__u|=u,g=r=[],c.nodeType==8?o=te(c,r):r.push(c),o=r[0]||o),(c=x.__b)&&c(e);e:if(typeof R=="function"){m=i.length;try{if(b=e.props,v=(c=R.prototype)&&c.render,_=(c=R.contextType)&&a[c.__c],$=c?_?_.props.value:c.__:a,(l=n.__c)?(e.__c=l,2&l.__g&&(l.__g|=1)):(v?e.__c=l=new R(b,$):(e.__c=l=new J(b,$),l.constructor=R,l.render=Bt),_&&_.sub(l),l.state||(l.state={}),l.__n=a,l.__g|=8,l.__h=[],l.__k=[]),v&&(l.__s||(l.__s=l.state),R.getDerivedStateFromProps&&(l.__s==l.state&&(l.__s=G({},l.__s)),G(l.__s,R.getDerivedStateFromProps(b,l.__s)))),y=l.props,f=l.state,l.__v=e,n.__c){if(b!==y&&v&&!R.getDerivedStateFromProps&&l.componentWillReceiveProps&&l.componentWillReceiveProps(b,$),e.__v==n.__v&&!(8&l.__g)||!(4&l.__g)&&l.shouldComponentUpdate&&l.shouldComponentUpdate(b,l.__s,$)===!1){e.__v!=n.__v&&(l.props=b,l.state=l.__s,l.__g&=-9),e.__e=n.__e,e.__k=n.__k,e.__k.some(function(L){L&&(L.__=e)}),ae.push.apply(l.__h,l.__k),l.__k=[],l.__h.length&&i.push(l),o=j(n);break e}l.componentWillUpdate&&l.componentWillUpdate(b,l.__s,$),v&&l.componentDidUpdate&&l.__h.push(function(){l.componentDidUpdate(y,f,h)})}else v&&!R.getDerivedStateFromProps&&l.componentWillMount&&l.componentWillMount(),v&&l.componentDidMount&&l.__h.push(l.componentDidMount);l.context=$,l.props=b,l.__P=t,l.__g&=-5,D=x.__r,Ue=v?25:0;do l.__g&=-9,D&&D(e),c=l.render(l.props,l.state=l.__s,l.context);while(8&l.__g&&++Ue<25);v&&(ae.push.apply(l.__h,l.__k),l.__k=[]),l.state=l.__s,l.getChildContext&&(a=G({},a,l.getChildContext())),v&&n.__c&&l.getSnapshotBeforeUpdate&&(h=l.getSnapshotBeforeUpdate(y,f)),Q=c&&c.type===oe&&c.key==null?c.props.children:c,b.__P&&(c=o,s=(t=b.__P).namespaceURI,u=r=null,n.props&&n.props.__P!=t&&(n.__k.some(function(L){L&&$e(L,L)}),n.__k=null),o=n.__k?j(n,0):null),o=Je(t,fe(Q)?Q:[Q],e,n,a,s,r,i,o,u,p),b.__P&&(e.__e=null,o=c),e.__u&=-161,g&&g.some(B),l.__h.length&&i.push(l),1&l.__g&&(l.__g&=-4)}catch(L){if(i.length=m,e.__v=null,u||r)if(L&&L.then){if(e.__u|=128|u,r){for(~(U=r.indexOf(o||void 0))||(U=r.length);(z=r[U-1])&&z.nodeType==8;)U--;for(;U<r.length;U++)if(z=r[U])if(r[U]=null,q){if(z==Me)break}else{if(z.nodeType!=8)break;z.data.startsWith("$s")&&(Me=te(q=z))}}if(!q){for(;o&&o.nodeType==8&&o.nextSibling;)o=o.nextSibling;q=o}(c=te(q=e.__c.__z||(e.__c.__z=q)))?(e.__e=q,o=c):e.__e=o,o=o&&o.nextSibling}else r&&r.some(B);else e.__e=n.__e;e.__k||(e.__k=n.__k||[]),L&&L.then||Xe(e),x.__e(L,e,n)}}else o=e.__e=zt(n.__e,e,n,a,s,r,i,u,p,t);return(c=x.diffed)&&c(e),o}function te(t,e){if(t&&t.nodeType==8&&t.data.startsWith("$s"))for(var n=1;t=t.nextSibling;){if(t.nodeType==8){if(t.data.startsWith("$s"))n++;else if(t.data.startsWith("/$s")&&!--n)return t}e&&e.push(t)}}function Xe(t){t&&(t.__c&&(t.__c.__g|=4),t.__k&&t.__k.some(Xe))}function Ye(t,e,n){for(var a=0;a<n.length;)ye(n[a++],n[a++],n[a++]);x.__c&&x.__c(e,t),t.some(function(s){try{t=s.__h,s.__h=[],t.some(function(r){r.call(s)})}catch(r){x.__e(r,s.__v)}})}function zt(t,e,n,a,s,r,i,o,u,p){var c,g,m,l,y,f,h,b,v=n.props||re,_=e.props,$=e.type;if($=="svg"?s="http://www.w3.org/2000/svg":$=="math"?s="http://www.w3.org/1998/Math/MathML":s||(s="http://www.w3.org/1999/xhtml"),r){for(c=0;c<r.length;c++)if((y=r[c])&&($?y.localName==$:y.nodeType==3)){t=y,r[c]=null;break}}if(!t){if(b=p.ownerDocument||document,!$)return b.createTextNode(_);t=b.createElementNS(s,$,_.is?_:p),o&&(x.__m&&x.__m(e,r),o=!1),r=null}if($){if(p=$=="template"&&t.content||t,r=$=="textarea"&&_.defaultValue!=null?null:r&&me.call(p.childNodes),!o&&r)for(v={},c=0;c<t.attributes.length;c++)v[(y=t.attributes[c]).name]=y.value;for(c in v)y=v[c],c=="dangerouslySetInnerHTML"?m=y:c=="children"||c in _||c=="value"&&"defaultValue"in _||c=="checked"&&"defaultChecked"in _||Z(t,c,null,y,s);for(c in _)y=_[c],c=="children"?l=y:c=="dangerouslySetInnerHTML"?g=y:c=="value"?f=y:c=="checked"?h=y:o&&typeof y!="function"||v[c]===y||Z(t,c,y,v[c],s);g?(o||m&&(g.__html==m.__html||g.__html==t.innerHTML)||(t.innerHTML=g.__html),e.__k=[]):(m&&(t.textContent=""),($=="foreignObject"||s=="http://www.w3.org/1998/Math/MathML"&&Mt.test($))&&(s="http://www.w3.org/1999/xhtml"),Je(p,fe(l)?l:[l],e,n,a,s,r,i,r?r[0]:n.__k&&j(n,0),o,u),r&&r.some(B)),o&&$!="textarea"||(c="value",$=="progress"&&f==null?t.removeAttribute(c):f==null||f===t[c]&&($!="progress"||f)||Z(t,c,f,v[c],s),c="checked",h!=null&&h!=t[c]&&Z(t,c,h,v[c],s))}else v===_||o&&t.data==_||(t.data=_);return t}function ye(t,e,n,a){try{typeof t=="function"?e?e.__x=t(e)||1:a&&(a=a.__c||a.__e)&&(e=a.__x)&&(a.__x=null,typeof e=="function"?e():t(null)):t.current=e}catch(s){x.__e(s,n)}}function $e(t,e,n){var a,s,r,i;if(x.unmount&&x.unmount(t),!(a=t.ref)||a.current&&a.current!=t.__e||ye(a,null,e,t),a=t.__c){if(a.componentWillUnmount)try{a.componentWillUnmount()}catch(o){x.__e(o,e)}a.__P=a.__n=null}if(a=t.__k)for(i=0;i<a.length;i++)a[i]&&$e(a[i],e,typeof t.type!="function"||n&&!t.props.__P);!n&&(a=t.__c)&&(a=a.__z)&&(s=te(a,r=[]))&&(a==t.__e&&r.some(B),B(s),B(a)),n||B(t.__e),t.__e=t.__c=t.__=null}function Bt(t,e,n){return this.constructor(t,n)}function be(t,e){var n,a,s,r;x.__&&x.__(t,e),e.nodeType==9&&(e=e.documentElement),a=(n=t&&32&t.__u)?null:e.__k,e.__k=K(oe,{children:[t]}),s=[],r=[],ge(e,e.__k,a||re,re,e.namespaceURI,a?null:e.firstChild?me.call(e.childNodes):null,s,a?a.__e:e.firstChild,n,r),Ye(s,e.__k,r),e.__k.props.children=null}x={__e:function(t,e,n,a){for(var s,r,i;e=e.__;)if((s=e.__c)&&!(1&s.__g)){s.__g|=4;try{if((i=(r=s.constructor)&&r.getDerivedStateFromError)&&s.setState(r.getDerivedStateFromError(t)),s.componentDidCatch&&(s.componentDidCatch(t,a||{}),i=1),i&&8&s.__g)return void(s.__g|=2)}catch(o){t=o}}throw ne=0,t}},ze=0,Ot=function(t){return t!=null&&t.constructor===V},J.prototype.setState=function(t,e){var n=this.__s;n&&n!=this.state||(n=this.__s=G({},this.state)),typeof t=="function"&&(t=t(G({},n),this.props)),t&&(G(n,t),this.__v&&(e&&this.__k.push(e),Fe(this)))},J.prototype.forceUpdate=function(t){this.__v&&(this.__g|=4,t&&this.__h.push(t),Fe(this))},J.prototype.render=oe,M=[],ne=0,Be=function(t,e){return t.__v.__b-e.__v.__b},ee=Symbol(),Ge=/(PointerCapture)$|Capture$/i,_e=0,pe={},Ut=0;var Y,T,ve,Qe,we=Object.is,ie=0,st=[],xe=[],S=x,Ze=S.__b,et=S.__r,tt=S.diffed,nt=S.__c,rt=S.unmount,at=S.__;function Se(t,e){S.__h&&S.__h(T,t,ie||e),ie=0;var n=T.__H||(T.__H={__:[],__h:[]});return t>=n.__.length&&n.__.push({}),n.__[t]}function w(t){return ie=1,Gt(ct,t)}function Gt(t,e,n){var a=Se(Y++,2);if(a.t=t,!a.__c&&(a.__=[n?n(e):ct(void 0,e),function(r){var i=(a.__N||a.__)[0],o=a.t(i,r);we(i,o)||(a.__N=[o,a.__[1]],a.__c.setState({}))}],a.__c=T,!T.__f)){T.__f=!0;var s=T.shouldComponentUpdate;T.shouldComponentUpdate=function(r,i,o){var u=this.__H;if(!u)return!0;var p=!1,c=this.props!=r;if(u.__.some(function(m){m.__N&&(p=!0,we(m.__[0],m.__N[0])||(c=!0))}),s){var g=s.call(this,r,i,o);return p?g||c:g}return!p||c}}return a.__}function k(t,e){var n=Se(Y++,3);!S.__s&&lt(n.__H,e)&&(n.__P=!0,n.__=t,n.u=e,T.__H.__h.push(n))}function N(t){return ie=5,Wt(function(){return{current:t}},[])}function Wt(t,e){var n=Se(Y++,7);return lt(n.__H,e)&&(n.__=t(),n.__H=e),n.__}function Kt(){var t;do{for(;t=xe.shift();)try{X(t)}catch(n){S.__e(n,{__:(t=t.__P)&&t.__v})}for(;t=st.shift();){var e=t.__H;if(t.__P&&e)try{e.__h.some(X),e.__h.some(ke),e.__h=[]}catch(n){e.__h=[],S.__e(n,t.__v)}}}while(xe.length)}S.__b=function(t){T=null,Ze&&Ze(t)},S.__=function(t,e){t&&e.__k&&e.__k.__m&&(t.__m=e.__k.__m),at&&at(t,e)},S.__r=function(t){et&&et(t),Y=0;var e=(T=t.__c).__H;e&&(ve==T?T.__h=[]:(e.__h.some(X),e.__h.some(ke),Y=0),e.__h=[],e.__.some(function(n){n.__N&&(n.__=n.__N),n.u=n.__N=void 0})),ve=T},S.diffed=function(t){tt&&tt(t);var e=t.__c;e&&e.__H&&(e.__H.__h.length&&it(st.push(e)),e.__H.__.some(function(n){n.u&&(n.__H=n.u)})),ve=T=null},S.__c=function(t,e){e.some(function(n){try{n.__h.some(X),n.__h=n.__h.filter(function(a){return!a.__||ke(a)})}catch(a){n.__h=[function(){throw a}]}}),nt&&nt(t,e)},S.unmount=function(t){rt&&rt(t);var e,n,a=t.__c;a&&a.__H&&(a.__H.__.some(function(s){try{if(s.__P&&s.__c){if(n===void 0){for(n=t.__;n&&(!n.__c||!n.__c.__P);)n=n.__;n=n&&n.__c}s.__P=n,it(xe.push(s))}else X(s)}catch(r){e=r}}),a.__H=void 0,e&&S.__e(e,a.__v))};var ot=typeof requestAnimationFrame=="function";function Jt(t){var e,n=function(){clearTimeout(a),ot&&cancelAnimationFrame(e),setTimeout(t)},a=setTimeout(n,35);ot&&(e=requestAnimationFrame(n))}function it(t){t!=1&&Qe==S.requestAnimationFrame||((Qe=S.requestAnimationFrame)||Jt)(Kt)}function X(t){var e=T,n=t.__c;typeof n=="function"&&(t.__c=void 0,n()),T=e}function ke(t){var e=T;t.__c=t.__(),T=e}function lt(t,e){return!t||t.length!=e.length||e.some(function(n,a){return!we(n,t[a])})}function ct(t,e){return typeof e=="function"?e(t):e}var se=document.getElementById("app")?.dataset??{},P={auth:se.auth??"off",tenantHeader:se.tenantHeader??"X-Tenant-ID",graphqlPath:se.graphql??"/graphql",version:se.version??""};var Te="dictamesh.session";function le(){try{let t=JSON.parse(sessionStorage.getItem(Te)??"null");return t&&(t.apiKey||t.jwt)?t:null}catch{return null}}function dt(t){sessionStorage.setItem(Te,JSON.stringify(t))}function Ce(){sessionStorage.removeItem(Te)}var Vt=15e3,ce=class extends Error{constructor(e,n,a){super(a),this.name="ApiError",this.status=e,this.code=n}},Ee=new Set;function ut(t){return Ee.add(t),()=>Ee.delete(t)}function Ie(t=le()){let e={};return t?.apiKey?e["X-API-Key"]=t.apiKey:t?.jwt&&(e.Authorization=`Bearer ${t.jwt}`),t?.tenant&&(e[P.tenantHeader]=t.tenant),e}function Xt(t,e={}){let n=new URL(t,window.location.origin);for(let[a,s]of Object.entries(e))s!=null&&s!==""&&n.searchParams.set(a,s);return n}async function I(t,e={}){return(await Le(t,e)).body}async function Le(t,{params:e,signal:n,session:a}={}){let s=[AbortSignal.timeout(Vt)];n&&s.push(n);let r;try{r=await fetch(Xt(t,e),{headers:{Accept:"application/json",...Ie(a)},signal:AbortSignal.any(s),credentials:"omit"})}catch(o){if(n?.aborted)throw o;let u=o?.name==="TimeoutError";throw new ce(0,u?"TIMEOUT":"NETWORK",u?"The node did not answer in time.":"The node cannot be reached.")}let i=null;try{i=await r.json()}catch{i=null}if(!r.ok){let o=new ce(r.status,i?.error?.code??`HTTP_${r.status}`,i?.error?.message??r.statusText??"request failed");throw r.status===401&&Ee.forEach(u=>u(o)),o}return{body:i,headers:r.headers}}function Pe(t,e){return new Set((t.get(e)??"").split(",").map(n=>n.trim()).filter(Boolean))}function pt(t){return t?.name==="AbortError"}var ft=function(t,e,n,a){var s;e[0]=0;for(var r=1;r<e.length;r++){var i=e[r++],o=e[r]?(e[0]|=i?1:2,n[e[r++]]):e[++r];i===3?a[0]=o:i===4?a[1]=Object.assign(a[1]||{},o):i===5?(a[1]=a[1]||{})[e[++r]]=o:i===6?a[1][e[++r]]+=o+"":i?(s=t.apply(o,ft(t,o,n,["",null])),a.push(s),o[0]?e[0]|=2:(e[r-2]=0,e[r]=s)):a.push(o)}return a},_t=new Map;function mt(t){var e=_t.get(this);return e||(e=new Map,_t.set(this,e)),(e=ft(this,e.get(t)||(e.set(t,e=(function(n){for(var a,s,r=1,i="",o="",u=[0],p=function(m){r===1&&(m||(i=i.replace(/^\s*\n\s*|\s*\n\s*$/g,"")))?u.push(0,m,i):r===3&&(m||i)?(u.push(3,m,i),r=2):r===2&&i==="..."&&m?u.push(4,m,0):r===2&&i&&!m?u.push(5,0,!0,i):r>=5&&((i||!m&&r===5)&&(u.push(r,0,i,s),r=6),m&&(u.push(r,m,0,s),r=6)),i=""},c=0;c<n.length;c++){c&&(r===1&&p(),p(c));for(var g=0;g<n[c].length;g++)a=n[c][g],r===1?a==="<"?(p(),u=[u],r=3):i+=a:r===4?i==="--"&&a===">"?(r=1,i=""):i=a+i[0]:o?a===o?o="":i+=a:a==='"'||a==="'"?o=a:a===">"?(p(),r=1):r&&(a==="="?(r=5,s=i,i=""):a==="/"&&(r<5||n[c][g+1]===">")?(p(),r===3&&(u=u[0]),r=u,(u=u[0]).push(2,0,r),r=0):a===" "||a==="	"||a===`
`||a==="\r"?(p(),r=2):i+=a),r===3&&i==="!--"&&(r=4,u=u[0])}return p(),u})(t)),e),arguments,[])).length>1?e:e[0]}var d=mt.bind(he);function C({error:t}){if(!t)return null;let e=t.code?` (${t.code})`:"";return d`<div class="banner banner-error" role="alert" data-testid="error">
    ${t.message||String(t)}${e}
  </div>`}function H({label:t="Loading\u2026"}){return d`<p class="muted" role="status" aria-live="polite">${t}</p>`}function Ne({what:t}){return d`<p class="muted" data-testid="not-available">${t}: not available</p>`}function F({value:t}){if(t==null||t==="")return d`<span>—</span>`;let e=new Date(t);return Number.isNaN(e.getTime())?d`<span>${String(t)}</span>`:d`<time datetime=${e.toISOString()} title=${e.toISOString()}>
    ${e.toLocaleString()}
  </time>`}var Yt="/api/v1/schemas";function ht({message:t,onLogin:e}){let[n,a]=w(""),[s,r]=w(""),[i,o]=w(""),[u,p]=w(t?{message:t}:null),[c,g]=w(!1);async function m(l){l.preventDefault();let y={apiKey:n.trim(),jwt:s.trim(),tenant:i.trim()};if(!y.apiKey==!y.jwt){p({message:"Enter an API key or a token (one of the two)."});return}g(!0),p(null);try{await I(Yt,{session:y}),dt(y),e(y)}catch(f){p(f)}finally{g(!1)}}return d`<section class="login" aria-labelledby="login-title">
    <h1 id="login-title">Log in</h1>
    <p class="muted">
      ${P.auth==="required"?"This node needs credentials":"Log in to see what your credentials allow"}:
      an API key or a JSON Web Token. They are kept in this tab only.</p>
    <${C} error=${u} />
    <form onSubmit=${m}>
      <label for="login-api-key">API key</label>
      <input id="login-api-key" data-testid="login-api-key" type="password"
        autocomplete="off" value=${n} onInput=${l=>a(l.currentTarget.value)} />
      <label for="login-jwt">or token (JWT)</label>
      <textarea id="login-jwt" data-testid="login-jwt" rows="3" autocomplete="off"
        value=${s} onInput=${l=>r(l.currentTarget.value)}></textarea>
      <label for="login-tenant">Tenant <span class="muted">(optional)</span></label>
      <input id="login-tenant" data-testid="login-tenant" type="text" autocomplete="off"
        value=${i} onInput=${l=>o(l.currentTarget.value)} />
      <button type="submit" data-testid="login-submit" disabled=${c}>
        ${c?"Checking\u2026":"Log in"}
      </button>
    </form>
  </section>`}function gt({attributes:t,masked:e,redacted:n,fields:a=[]}){let s=a.map(o=>o.name).filter(o=>o in(t??{})),r=[...s,...Object.keys(t??{}).filter(o=>!s.includes(o))],i=Object.fromEntries(a.map(o=>[o.name,o.classification]));return r.length===0?d`<p class="muted">No attributes recorded.</p>`:d`<table class="attributes">
    <caption class="visually-hidden">Attributes</caption>
    <thead class="visually-hidden"><tr><th scope="col">Field</th><th scope="col">Value</th></tr></thead>
    <tbody>
      ${r.map(o=>{let u=n.has(o)||[...n].some(c=>c.startsWith(`${o}.`)),p=e.has(o)||[...e].some(c=>c.startsWith(`${o}.`));return d`<tr data-testid="attribute" data-field=${o}
          data-masked=${u||p?"true":"false"}>
          <th scope="row">${o}
            ${i[o]&&i[o]!=="public"?d` <span class="tag" title="classification">${i[o]}</span>`:""}
          </th>
          <td>
            ${(u||p)&&t[o]===null?d`<span class="masked">withheld</span>`:d`<${Qt} value=${t[o]} masked=${p||u} />`}
            ${p&&d` <span class="badge" title="masked by the node's policy">masked</span>`}
          </td>
        </tr>`})}
    </tbody>
  </table>`}function Qt({value:t,masked:e}){return t==null?d`<span class="muted">—</span>`:typeof t=="object"?d`<pre class=${e?"value masked":"value"}>${JSON.stringify(t,null,2)}</pre>`:d`<span class=${e?"masked":void 0}>${String(t)}</span>`}var Ae="dictamesh:route";function yt(t=window.location.hash){let e=t.replace(/^#\/?/,""),[n,a=""]=e.split("?",2),[s="",...r]=n.split("/").filter(Boolean).map(Zt);return{page:s,params:r,query:new URLSearchParams(a)}}function Zt(t){try{return decodeURIComponent(t)}catch{return t}}function E(t,e=[],n={}){let a=[t,...e].map(i=>encodeURIComponent(String(i))).join("/"),s=new URLSearchParams;for(let[i,o]of Object.entries(n))o!=null&&o!==""&&s.set(i,o);let r=s.toString();return`#/${a}${r?`?${r}`:""}`}function O(t,e=[],n={},{replace:a=!1}={}){let s=E(t,e,n);s!==window.location.hash&&(a?(window.history.replaceState(null,"",s),window.dispatchEvent(new Event(Ae))):window.location.hash=s)}function $t(){let[t,e]=w(yt);return k(()=>{let n=()=>e(yt());return window.addEventListener("hashchange",n),window.addEventListener(Ae,n),()=>{window.removeEventListener("hashchange",n),window.removeEventListener(Ae,n)}},[]),t}var De=(t,e)=>`/api/v1/entities/${encodeURIComponent(t)}/${encodeURIComponent(e)}`;function W(t,e,n){let[a,s]=w({data:null,error:null,missing:!1,loading:!0});return k(()=>{if(!t)return;let r=new AbortController;return I(t,{params:e,signal:r.signal}).then(i=>s({data:i,error:null,missing:!1,loading:!1}),i=>{if(r.signal.aborted)return;let o=i?.status===404;s({data:null,error:o?null:i,missing:o,loading:!1})}),()=>r.abort()},n),a}function bt({type:t,id:e,entity:n,reload:a}){let s=W(`${De(t,e)}/cache`,{},[t,e,a]),r=s.data?.layers??[];return d`<section aria-labelledby="fresh-title" data-testid="freshness">
    <h2 id="fresh-title">Freshness and cache</h2>
    <dl class="facts">
      <dt>Catalog updated</dt><dd><${F} value=${n.updated_at} /></dd>
      <dt>Last event</dt><dd><code>${n.last_event_id??"\u2014"}</code></dd>
    </dl>
    ${s.missing&&d`<${Ne} what="Cache status" />`}
    <${C} error=${s.error} />
    ${s.data&&r.length===0&&d`<p class="muted">Not cached on this node.</p>`}
    ${r.length>0&&d`<table class="attributes" data-testid="cache-layers">
      <thead><tr><th scope="col">Layer</th><th scope="col">State</th><th scope="col">Cached</th>
        <th scope="col">Hits</th></tr></thead>
      <tbody>${r.map(i=>d`<tr>
        <td>${i.layer}</td>
        <td>${i.fresh?"fresh":i.invalidated_at?"invalidated":"expired"}
          ${i.ttl_seconds?d`<span class="muted"> (TTL ${i.ttl_seconds} s)</span>`:""}</td>
        <td><${F} value=${i.cached_at} /></td>
        <td>${i.hits}</td>
      </tr>`)}</tbody>
    </table>`}
  </section>`}function A(t,e=""){return typeof t=="number"?`${Math.round(t*1e3)/1e3}${e}`:"\u2014"}function vt({type:t}){let e=W("/api/v1/adapters",{},[t]),n=e.data?.adapters?.find(o=>o.entity_type===t)??null,a=W(n?`/api/v1/adapters/${encodeURIComponent(n.name)}/status`:null,{},[n?.name]);if(e.loading)return d`<${H} />`;if(!n)return d`<section aria-labelledby="sla-title"><h2 id="sla-title">Source</h2>
      <p class="muted">No adapter on this node serves ${t}.</p></section>`;let s=a.data?.sla?.target??n.sla??{},r=a.data?.sla?.measured??null,i=a.data;return d`<section aria-labelledby="sla-title" data-testid="source-state">
    <h2 id="sla-title">Source: ${n.name}</h2>
    <table class="attributes" data-testid="sla">
      <thead><tr><th scope="col">SLA</th><th scope="col">Target</th><th scope="col">Measured</th></tr></thead>
      <tbody>
        <tr><td>Availability</td><td>${A(s.availability_target)}</td>
          <td>${r?A(r.availability):"not available"}</td></tr>
        <tr><td>Latency p95</td><td>${A(s.latency_p95_ms," ms")}</td>
          <td>${r?A(r.latency_p95_ms," ms"):"not available"}</td></tr>
        <tr><td>Freshness</td><td>${A(s.freshness_seconds," s")}</td>
          <td>${r?A(r.freshness_seconds," s"):"not available"}</td></tr>
      </tbody>
    </table>
    ${a.missing&&d`<${Ne} what="Adapter status" />`}
    <${C} error=${a.error} />
    ${i&&d`<dl class="facts" data-testid="adapter-status">
      <dt>Healthy</dt><dd>${i.healthy?"yes":"no"}</dd>
      <dt>Breaker</dt><dd>${i.breaker_state??"\u2014"}</dd>
      <dt>Last sync</dt><dd><${F} value=${i.last_sync_at} /></dd>
      <dt>Error rate</dt><dd>${A(i.error_rate)}</dd>
      <dt>Latency</dt><dd>p50 ${A(i.latency_ms?.p50," ms")} · p95 ${A(i.latency_ms?.p95," ms")}
        · p99 ${A(i.latency_ms?.p99," ms")}</dd>
    </dl>`}
  </section>`}function wt({type:t,id:e,reload:n}){let a=W(`${De(t,e)}/graph`,{depth:1},[t,e,n]),s=a.data?.edges??[],r=o=>o.type===t&&o.id===e,i=s.map(o=>r(o.subject)?{ref:o.object,label:o.relationship_type,outgoing:!0}:{ref:o.subject,label:o.relationship_type,outgoing:!1});return d`<section aria-labelledby="related-title" data-testid="related">
    <h2 id="related-title">Related entities</h2>
    <${C} error=${a.error} />
    ${a.data&&i.length===0&&d`<p class="muted">None recorded.</p>`}
    <ul class="links">
      ${i.map(({ref:o,label:u,outgoing:p})=>d`<li>
        <span class="muted">${p?u:`${u} (from)`}</span>${" "}
        <a href=${E("entity",[o.type,o.id])} data-testid="related-link">${o.type} ${o.id}</a>
      </li>`)}
    </ul>
    ${a.data?.withheld_nodes?d`<p class="muted">${a.data.withheld_nodes} withheld.</p>`:""}
    <p><a href=${E("graph",[t,e])}>Open the graph</a></p>
  </section>`}function xt({type:t,id:e}){let n=W(`${De(t,e)}/similar`,{limit:8},[t,e]);if(n.missing||n.loading||n.error?.status===400)return null;let a=n.data?.results??n.data?.similar??[];return d`<section aria-labelledby="similar-title" data-testid="similar">
    <h2 id="similar-title">Similar entities</h2>
    <${C} error=${n.error} />
    ${a.length===0&&!n.error&&d`<p class="muted">None found.</p>`}
    <ul class="links">
      ${a.map(s=>d`<li><a href=${E("entity",[s.entity_type,s.entity_id])}>
        ${s.entity_type} ${s.entity_id}</a>
        ${typeof s.score=="number"?d` <span class="muted">${s.score.toFixed(2)}</span>`:""}
      </li>`)}
    </ul>
  </section>`}var en="graphql-transport-ws";function kt({query:t,variables:e,onNext:n,onState:a}){let s=new URL(P.graphqlPath,window.location.href);s.protocol=s.protocol==="https:"?"wss:":"ws:";let r,i=!1,o=u=>i||a?.(u);try{r=new WebSocket(s,en)}catch{return o("closed"),()=>{}}return o("connecting"),r.onopen=()=>{r.send(JSON.stringify({type:"connection_init",payload:Ie()}))},r.onmessage=u=>{let p;try{p=JSON.parse(u.data)}catch{return}p.type==="connection_ack"?(r.send(JSON.stringify({id:"1",type:"subscribe",payload:{query:t,variables:e}})),o("live")):p.type==="ping"?r.send(JSON.stringify({type:"pong"})):p.type==="next"&&p.payload?.data?i||n(p.payload.data):(p.type==="error"||p.type==="complete")&&(o("closed"),r.close())},r.onerror=()=>o("closed"),r.onclose=()=>o("closed"),()=>{i=!0,r.readyState===WebSocket.OPEN&&r.send(JSON.stringify({id:"1",type:"complete"})),r.close()}}var tn=50,nn=2e3,rn=[300,1e3,2500],an=`subscription ($type: String!, $id: ID) {
  entityChanged(type: $type, id: $id) { eventId eventType version }
}`;function St(t,e,n){let[a,s]=w({events:null,error:null,mode:"connecting",fresh:new Set}),r=N(new Set),i=N(n);return i.current=n,k(()=>{let o=!1,u=null,p=new Set,c=`/api/v1/entities/${encodeURIComponent(t)}/${encodeURIComponent(e)}/events`;async function g(){try{let f=await I(c,{params:{limit:tn}});if(o)return!1;let h=f?.events??[],b=r.current.size===0,v=new Set(b?[]:h.map(_=>_.event_id).filter(_=>!r.current.has(_)));return h.forEach(_=>r.current.add(_.event_id)),s(_=>({..._,events:h,error:null,fresh:v})),v.size>0&&i.current?.(),v.size>0}catch(f){return o||s(h=>({...h,error:f})),!1}}function m(){u||o||(s(f=>({...f,mode:"polling"})),u=setInterval(g,nn))}async function l(){if(!await g())for(let f of rn){let h=setTimeout(async()=>{p.delete(h),o||await g()},f);p.add(h)}}g();let y=kt({query:an,variables:{type:t,id:e},onNext:l,onState:f=>{f==="closed"?m():u||s(h=>({...h,mode:f==="live"?"subscription":f}))}});return()=>{o=!0,y(),u&&clearInterval(u),p.forEach(clearTimeout)}},[t,e]),a}function Tt({state:t}){let{events:e,error:n,mode:a,fresh:s}=t;return d`<section aria-labelledby="timeline-title">
    <h2 id="timeline-title">Timeline</h2>
    <p class="muted" data-testid="timeline-mode" data-mode=${a}>
      ${a==="subscription"?"Live: new events appear here as they happen.":a==="polling"?"Checking for new events every 2 seconds.":"Connecting\u2026"}
    </p>
    <${C} error=${n} />
    ${e&&e.length===0&&d`<p class="muted">No events recorded.</p>`}
    <ol class="timeline" aria-live="polite" aria-relevant="additions">
      ${(e??[]).map(r=>d`<li key=${r.event_id} data-testid="timeline-event"
        data-event-id=${r.event_id} data-version=${r.entity_version}
        class=${s.has(r.event_id)?"fresh":void 0}>
        <strong>${r.event_type?.toLowerCase()}</strong>
        <span> · version ${r.entity_version}</span>
        <span> · <${F} value=${r.timestamp??r.recorded_at} /></span>
        ${r.changed_fields?.length>0&&d`<div class="muted">
          changed: ${r.changed_fields.join(", ")}</div>`}
        <div class="muted">event <code title=${r.event_id}>${r.event_id.slice(0,8)}</code>
          from ${r.source_system??"?"} (${r.topic??""})</div>
      </li>`)}
    </ol>
  </section>`}function Ct(t,e,n){let[a,s]=w({body:null,headers:new Headers,error:null});return k(()=>{let r=new AbortController;return Le(`/api/v1/entities/${encodeURIComponent(t)}/${encodeURIComponent(e)}`,{signal:r.signal}).then(({body:i,headers:o})=>s({body:i,headers:o,error:null}),i=>r.signal.aborted||s(o=>({...o,error:i}))),()=>r.abort()},[t,e,n]),a}function Et({params:t}){let[e,n]=t;return!e||!n?d`<section><h1>Entity</h1><p class="muted">Find an entity with the search box.</p></section>`:d`<${on} key=${`${e}/${n}`} type=${e} id=${n} />`}function on({type:t,id:e}){let[n,a]=w(0),s=Ct(t,e,n),r=W(`/api/v1/schemas/${encodeURIComponent(t)}`,{},[t]),i=St(t,e,()=>a(u=>u+1)),o=s.body;return d`<article aria-labelledby="entity-title">
    <h1 id="entity-title"><span class="badge">${t}</span> ${e}</h1>
    <${C} error=${s.error} />
    ${!o&&!s.error&&d`<${H} />`}
    ${o&&d`<div class="entity-grid">
      <div>
        <dl class="facts" data-testid="entity-facts">
          <dt>Domain</dt><dd>${o.domain}</dd>
          <dt>Source</dt><dd>${o.source_system} · id ${o.source_entity_id}</dd>
          <dt>Version</dt><dd data-testid="entity-version">${o.version}</dd>
          <dt>Schema version</dt><dd data-testid="schema-version">
            ${de("schemas")?d`<a href=${E("schemas",[t])}>${o.schema_version}</a>`:o.schema_version}</dd>
          <dt>Status</dt><dd>${o.status}</dd>
          <dt>First seen</dt><dd><${F} value=${o.created_at} /></dd>
        </dl>
        <h2>Attributes</h2>
        <${gt} attributes=${o.attributes} masked=${Pe(s.headers,"X-DictaMesh-Masked")}
          redacted=${Pe(s.headers,"X-DictaMesh-Redacted")}
          fields=${r.data?.fields??[]} />
        <${Tt} state=${i} />
      </div>
      <div>
        <${bt} type=${t} id=${e} entity=${o} reload=${n} />
        <${vt} type=${t} />
        <${wt} type=${t} id=${e} reload=${n} />
        <${xt} type=${t} id=${e} />
      </div>
    </div>`}
  </article>`}function It(){let[t,e]=w({loaded:!1,byType:{},error:null});return k(()=>{let n=new AbortController;return I("/api/v1/schemas",{signal:n.signal}).then(a=>{let s={};for(let r of a?.schemas??[])s[r.entity_type]=r.domain;e({loaded:!0,byType:s,error:null})},a=>n.signal.aborted||e({loaded:!0,byType:{},error:a})),()=>n.abort()},[]),t}var sn=[["both","Both"],["outgoing","Outgoing"],["incoming","Incoming"]];function Pt({params:t,query:e}){let[n,a]=t,s=dn(e.get("depth")),r=e.get("direction")??"both",i=e.get("lineage")!=="0";return!n||!a?d`<${_n} />`:d`<${un} key=${`${n}/${a}/${s}/${r}`} type=${n} id=${a}
    depth=${s} direction=${r} lineage=${i} />`}var Lt=null;function ln(){return Lt??=import("./chunk-TUCAMAH2.js"),Lt}function cn(){let[t,e]=w(null),[n,a]=w(null);return k(()=>{ln().then(e,s=>a({message:`The graph cannot load: ${s.message}`}))},[]),{module:t,error:n}}function dn(t){let e=Number.parseInt(t??"2",10);return Number.isFinite(e)?Math.min(Math.max(e,1),5):2}function un({type:t,id:e,depth:n,direction:a,lineage:s}){let r=N(null),i=N(null),[o,u]=w({graph:null,error:null,expanding:null}),[p,c]=w({data:null,error:null}),g=It(),m=cn(),l=m.module;k(()=>{let _=new AbortController;return I(`/api/v1/lineage/${encodeURIComponent(t)}/${encodeURIComponent(e)}`,{signal:_.signal}).then($=>c({data:$,error:null}),$=>_.signal.aborted||c({data:null,error:$})),()=>_.abort()},[]),k(()=>{i.current&&p.data&&l&&l.showLineage(i.current,l.lineageElements(p.data,{type:t,id:e}),s)},[p.data,s,l]),k(()=>{let _=new AbortController;return I(`/api/v1/entities/${encodeURIComponent(t)}/${encodeURIComponent(e)}/graph`,{params:{depth:n,direction:a},signal:_.signal}).then($=>u({graph:$,error:null,expanding:null}),$=>_.signal.aborted||u({graph:null,error:$,expanding:null})),()=>_.abort()},[]),k(()=>{!o.graph||!g.loaded||!r.current||!l||(i.current?l.mergeGraph(i.current,o.graph,g.byType):(i.current=l.drawGraph(r.current,o.graph,g.byType,{onExpand:y,onOpen:_=>O("entity",[_.type,_.id])}),window.__dictameshGraph=i.current,p.data&&l.showLineage(i.current,l.lineageElements(p.data,{type:t,id:e}),s)))},[o.graph,g.loaded,l]),k(()=>()=>{i.current?.destroy(),window.__dictameshGraph===i.current&&(window.__dictameshGraph=void 0)},[]);async function y(_){u($=>({...$,expanding:`${_.type}/${_.id}`}));try{let $=await I(`/api/v1/entities/${encodeURIComponent(_.type)}/${encodeURIComponent(_.id)}/graph`,{params:{depth:1,direction:a}});u(D=>({...D,graph:$,expanding:null,error:null}))}catch($){u(D=>({...D,expanding:null,error:$}))}}function f(_,$){let D={depth:n,direction:a,lineage:s?"1":"0",[_]:$};O("graph",[t,e],D,{replace:!0})}let h=o.graph,b=He(g.byType),v=(h?.nodes??[]).some(_=>!g.byType[_.type]);return d`<section aria-labelledby="graph-title">
    <h1 id="graph-title">Graph of <a href=${E("entity",[t,e])}>${t} ${e}</a></h1>
    <div class="graph-controls">
      <label>Depth
        <select data-testid="graph-depth" value=${String(n)}
          onChange=${_=>f("depth",_.currentTarget.value)}>
          ${[1,2,3,4,5].map(_=>d`<option value=${String(_)}>${_}</option>`)}
        </select>
      </label>
      <label>Direction
        <select data-testid="graph-direction" value=${a}
          onChange=${_=>f("direction",_.currentTarget.value)}>
          ${sn.map(([_,$])=>d`<option value=${_}>${$}</option>`)}
        </select>
      </label>
      <label class="inline"><input type="checkbox" data-testid="graph-lineage" checked=${s}
        onChange=${_=>f("lineage",_.currentTarget.checked?"1":"0")} /> Lineage</label>
      <button type="button" onClick=${()=>i.current?.fit(void 0,30)}>Fit</button>
      <span class="muted" role="status" aria-live="polite">
        ${o.expanding?`Expanding ${o.expanding}\u2026`:""}
        ${h?.truncated?"Truncated: more entities lie within this depth.":""}
        ${h?.withheld_nodes?` ${h.withheld_nodes} entities withheld.`:""}
        ${s&&p.data?.withheld_edges?` ${p.data.withheld_edges} flows withheld.`:""}
      </span>
    </div>
    <${C} error=${o.error||m.error||g.error||(s?p.error:null)} />
    ${!h&&!o.error&&d`<${H} />`}
    <div class="graph-area">
      <div class="graph" ref=${r} data-testid="graph" role="img"
        aria-label=${`Relationship graph around ${t} ${e}; the list below holds the same entities`}></div>
      <aside aria-label="Legend">
        <h2>Domains</h2>
        <ul class="legend" data-testid="graph-legend">
          ${Object.entries(b).map(([_,$])=>d`<li><span class="swatch"
            style=${{background:$}}></span>${_}</li>`)}
          ${v&&d`<li><span class="swatch" style=${{background:je}}>
            </span>no schema here</li>`}
          ${s&&p.data&&d`<li><span class="swatch swatch-dataset"></span>
            dataset (lineage, dashed)</li>`}
        </ul>
        <p class="muted">Click a node to expand it; double-click to open it. Scroll to zoom,
          drag to pan.</p>
      </aside>
    </div>
    ${h&&d`<${pn} cy=${i} graph=${h} />`}
  </section>`}function pn({graph:t}){let e=t.nodes??[];return d`<details class="node-list">
    <summary>${e.length} entities in this graph</summary>
    <ul class="links">
      ${e.map(n=>d`<li><a href=${E("entity",[n.type,n.id])}>
        ${n.type} ${n.id}</a></li>`)}
    </ul>
  </details>`}function _n(){let[t,e]=w(""),[n,a]=w("");function s(r){r.preventDefault(),t.trim()&&n.trim()&&O("graph",[t.trim(),n.trim()])}return d`<section aria-labelledby="graph-title">
    <h1 id="graph-title">Graph</h1>
    <p class="muted">Open an entity's graph from its page, or name one here.</p>
    <form class="graph-controls" onSubmit=${s}>
      <label>Entity type <input value=${t} onInput=${r=>e(r.currentTarget.value)} /></label>
      <label>Id <input value=${n} onInput=${r=>a(r.currentTarget.value)} /></label>
      <button type="submit">Show graph</button>
    </form>
  </section>`}var fn=150,mn=25,hn=[["hybrid","Hybrid"],["text","Text"],["semantic","Semantic"]],gn=[["type","type","Type"],["domain","domain","Domain"],["source","source","Source"],["classification",null,"Classification"]],Nt=["type","domain","source"];function Dt({query:t}){let e=(t.get("q")??"").trim(),n=t.get("mode")??"hybrid",a=Object.fromEntries(Nt.map(f=>[f,t.get(f)??""])),[s,r]=w({answer:null,error:null,loading:!1}),i=JSON.stringify(a),o=`${n}:${e}:${i}`;k(()=>{if(!e){r({answer:null,error:null,loading:!1});return}let f=new AbortController;r(b=>({...b,loading:!0}));let h=setTimeout(async()=>{try{let b=await I("/api/v1/search",{params:{q:e,mode:n,limit:mn,...a},signal:f.signal});r({answer:b,error:null,loading:!1,key:o})}catch(b){pt(b)||r({answer:null,error:b,loading:!1})}},fn);return()=>{clearTimeout(h),f.abort()}},[e,n,i]);function u(f,h){let b=Object.fromEntries(t);h?b[f]=h:delete b[f],O("search",[],b,{replace:!0})}let{answer:p,error:c,loading:g}=s,m=s.key===o?"current":"stale",l=p?.results??[],y=Nt.filter(f=>a[f]);return d`<section class="search-page" aria-labelledby="search-title">
    <h1 id="search-title">Search</h1>
    <fieldset class="modes">
      <legend>Mode</legend>
      ${hn.map(([f,h])=>d`<label class="mode">
        <input type="radio" name="mode" value=${f} checked=${n===f}
          data-testid=${`mode-${f}`} onChange=${()=>u("mode",f)} />
        ${h}
      </label>`)}
    </fieldset>
    ${y.length>0&&d`<p class="active-filters">Filtered by
      ${y.map(f=>d` <button type="button" class="chip" data-testid="active-filter"
        onClick=${()=>u(f,"")} aria-label=${`Remove filter ${f} ${a[f]}`}>
        ${f}: ${a[f]} ✕</button>`)}
    </p>`}
    <${C} error=${c} />
    ${p?.degraded&&d`<p class="banner banner-warn" role="status" data-testid="degraded">
      Semantic search is unavailable here; these are text results.
      ${p.degraded_reason?d` <span class="muted">(${p.degraded_reason})</span>`:""}</p>`}
    <div class=${p?.facets?"search-layout with-facets":"search-layout"}>
      <${$n} facets=${p?.facets} filters=${a} onPick=${u} />
      <div class="search-results" aria-busy=${g?"true":"false"}
        data-testid="search-results" data-answer=${p?m:""}>
        ${!e&&d`<p class="muted">Type in the search box above: names, ids, emails,
          descriptions. Spelling mistakes are tolerated.</p>`}
        ${e&&g&&!p&&d`<${H} label="Searching…" />`}
        ${e&&p&&d`<p class="muted" role="status" aria-live="polite"
          data-testid="result-count">
          ${l.length===0?"No results.":`${l.length} result${l.length===1?"":"s"}`}
          ${p.mode&&p.mode!==n?` (${p.mode})`:""}
        </p>`}
        ${l.length>0&&d`<${yn} results=${l} />`}
      </div>
    </div>
  </section>`}function yn({results:t}){let e=N(null);function n(a){let s=[...e.current.querySelectorAll('[data-testid="search-result"]')],r=s.indexOf(document.activeElement),i=null;a.key==="ArrowDown"?i=s[Math.min(r+1,s.length-1)]:a.key==="ArrowUp"?i=r<=0?document.getElementById("search-input"):s[r-1]:a.key==="Home"?i=s[0]:a.key==="End"&&(i=s[s.length-1]),i&&(a.preventDefault(),i.focus())}return d`<ol id="search-results" class="results" ref=${e} onKeyDown=${n}
    aria-label="Search results">
    ${t.map(a=>d`<li key=${`${a.entity_type}/${a.entity_id}`}>
      <a class="result" href=${E("entity",[a.entity_type,a.entity_id])}
        data-testid="search-result" data-entity-type=${a.entity_type}
        data-entity-id=${a.entity_id}>
        <span class="badge">${a.entity_type}</span>
        <span class="result-id">${a.label??a.entity_id}</span>
        ${a.domain&&d`<span class="muted">${a.domain}</span>`}
        <span class="result-meta muted">
          ${a.matched?.length?`matched ${a.matched.join(", ")}`:""}
          ${a.sources?.length?` \xB7 ${a.sources.join(" + ")}`:""}
          ${typeof a.score=="number"?` \xB7 score ${a.score.toFixed(3)}`:""}
        </span>
      </a>
    </li>`)}
  </ol>`}function At(t){return Array.isArray(t)?t.map(e=>({value:String(e.value??e.key??e.name??""),count:e.count??0})).filter(e=>e.value):t&&typeof t=="object"?Object.entries(t).map(([e,n])=>({value:e,count:Number(n)||0})):[]}function $n({facets:t,filters:e,onPick:n}){if(!t||typeof t!="object")return null;let a=gn.filter(([s])=>At(t[s]).length>0);return a.length===0?null:d`<aside class="facets" aria-label="Filters">
    ${a.map(([s,r,i])=>d`<section class="facet-group">
      <h2>${i}</h2>
      <ul>
        ${At(t[s]).map(({value:o,count:u})=>{if(!r)return d`<li class="facet" data-testid="facet" data-facet=${s} data-value=${o}>
              ${o} <span class="count">${u}</span></li>`;let p=e[r]===o;return d`<li><button type="button" class="facet" data-testid="facet"
            data-facet=${r} data-value=${o} aria-pressed=${p?"true":"false"}
            onClick=${()=>n(r,p?"":o)}>
            ${o} <span class="count">${u}</span>
          </button></li>`})}
      </ul>
    </section>`)}
  </aside>`}var Re=[{path:"search",title:"Search",nav:!0,component:Dt},{path:"graph",title:"Graph",nav:!0,component:Pt},{path:"entity",title:"Entity",nav:!1,component:Et}],Oe="search";function de(t){return Re.find(e=>e.path===t)??null}function Rt(){let t=$t(),[e,n]=w(le),[a,s]=w(null),[r,i]=w(!1);k(()=>ut(m=>{Ce(),n(null),s(m.message||"Your credentials were refused; log in again."),i(!0)}),[]);let o=de(t.page);k(()=>{o||O(Oe,[],{},{replace:!0}),document.title=o?`${o.title} \xB7 DictaMesh`:"DictaMesh"},[o]);let u=P.auth!=="off"&&!e&&(P.auth==="required"||r);function p(m){n(m),s(null),i(!1)}function c(){Ce(),n(null),s(null),i(P.auth==="required")}let g=o?.component;return d`
    <header class="shell-header">
      <a class="brand" href=${E(Oe)}>DictaMesh</a>
      <${vn} route=${t} />
      <nav aria-label="Main">
        <ul class="nav">
          ${Re.filter(m=>m.nav).map(m=>d`<li>
            <a href=${E(m.path)} aria-current=${t.page===m.path?"page":void 0}>
              ${m.title}
            </a>
          </li>`)}
        </ul>
      </nav>
      <${bn} session=${e} onLogin=${()=>i(!0)}
        onLogout=${c} />
    </header>
    <main id="main" tabindex="-1">
      ${u?d`<${ht} message=${a} onLogin=${p} />`:g?d`<${g} key=${t.page} params=${t.params} query=${t.query}
              session=${e} />`:null}
    </main>`}function bn({session:t,onLogin:e,onLogout:n}){if(P.auth==="off")return null;if(!t)return d`<div class="session">
      <button type="button" data-testid="login-open" onClick=${e}>Log in</button>
    </div>`;let a=t.apiKey?"API key":"token";return d`<div class="session">
    <span class="muted" data-testid="session-who">
      ${a}${t.tenant?` \xB7 tenant ${t.tenant}`:""}
    </span>
    <button type="button" data-testid="logout" onClick=${n}>Log out</button>
  </div>`}function vn({route:t}){let e=t.page==="search",n=e?t.query.get("q")??"":void 0,a=N(null);function s(i){let o=e?Object.fromEntries(t.query):{};o.q=i.currentTarget.value,O("search",[],o,{replace:e})}function r(i){if(i.key==="ArrowDown"){let o=document.querySelector('[data-testid="search-result"]');o&&(i.preventDefault(),o.focus())}}return k(()=>{e&&document.activeElement!==a.current&&n&&a.current?.focus()},[e]),d`<form class="search-box" role="search" onSubmit=${i=>i.preventDefault()}>
    <label for="search-input" class="visually-hidden">Search the catalog</label>
    <input id="search-input" ref=${a} data-testid="search-input" type="search"
      placeholder="Search customers, products, invoices…" autocomplete="off"
      spellcheck="false" value=${n} onInput=${s} onKeyDown=${r}
      aria-controls="search-results" />
  </form>`}be(d`<${Rt} />`,document.getElementById("app"));
