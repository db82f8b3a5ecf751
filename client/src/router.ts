/** The routes of the storefront. Pages under `requiresAuth` send anonymous visitors to log in. */
import { createRouter, createWebHistory } from 'vue-router';
import DealListPage from './pages/DealListPage.vue';
import DealPage from './pages/DealPage.vue';
import LoginPage from './pages/LoginPage.vue';
import NotFoundPage from './pages/NotFoundPage.vue';
import OrderPage from './pages/OrderPage.vue';
import OrdersPage from './pages/OrdersPage.vue';
import SignupPage from './pages/SignupPage.vue';
import { accessToken, storedUser } from './session';

// Seller and admin pages are loaded only by those who open them.
const SellerDealsPage = () => import('./pages/seller/SellerDealsPage.vue');
const SellerNewDealPage = () => import('./pages/seller/SellerNewDealPage.vue');
const SellerMonitorPage = () => import('./pages/seller/SellerMonitorPage.vue');
const AdminOpsPage = () => import('./pages/admin/AdminOpsPage.vue');
const ProfilePage = () => import('./pages/ProfilePage.vue');
const SellerApplicationPage = () => import('./pages/SellerApplicationPage.vue');

declare module 'vue-router' {
  interface RouteMeta {
    /** Only for logged-in shoppers. */
    requiresAuth?: boolean;
    /**
     * Only for these roles (as last known in this browser; the server checks each call and the
     * page shows its refusal). Others are sent to the storefront.
     */
    roles?: Array<'seller' | 'admin'>;
    /** The document title (followed by " · Dealrush"). */
    title?: string;
  }
}

export const router = createRouter({
  history: createWebHistory(),
  routes: [
    { path: '/', name: 'deals', component: DealListPage, meta: { title: 'Deals' } },
    { path: '/deals/:dealId', name: 'deal', component: DealPage, props: true },
    { path: '/orders', name: 'orders', component: OrdersPage, meta: { requiresAuth: true, title: 'My orders' } },
    { path: '/orders/:orderId', name: 'order', component: OrderPage, props: true, meta: { requiresAuth: true, title: 'Order' } },
    { path: '/seller', name: 'seller', component: SellerDealsPage, meta: { requiresAuth: true, roles: ['seller'], title: 'My deals' } },
    { path: '/seller/deals/new', name: 'seller-new-deal', component: SellerNewDealPage, meta: { requiresAuth: true, roles: ['seller'], title: 'New deal' } },
    { path: '/seller/deals/:dealId', name: 'seller-monitor', component: SellerMonitorPage, props: true, meta: { requiresAuth: true, roles: ['seller', 'admin'], title: 'Live monitor' } },
    { path: '/admin', name: 'admin', component: AdminOpsPage, meta: { requiresAuth: true, roles: ['admin'], title: 'Ops panel' } },
    { path: '/account', name: 'profile', component: ProfilePage, meta: { requiresAuth: true, title: 'My profile' } },
    { path: '/account/seller-application', name: 'become-seller', component: SellerApplicationPage, meta: { requiresAuth: true, title: 'Become a seller' } },
    { path: '/login', name: 'login', component: LoginPage, meta: { title: 'Log in' } },
    { path: '/signup', name: 'signup', component: SignupPage, meta: { title: 'Sign up' } },
    { path: '/:pathMatch(.*)*', name: 'not-found', component: NotFoundPage, meta: { title: 'Not found' } },
  ],
  scrollBehavior: (_to, _from, saved) => saved ?? { top: 0 },
});

router.beforeEach((to) => {
  if (to.meta.requiresAuth && !accessToken()) return { name: 'login', query: { redirect: to.fullPath } };
  const roles = to.meta.roles;
  if (roles && !storedUser()?.roles.some((r) => (roles as string[]).includes(r))) return { name: 'deals' };
  return true;
});

router.afterEach((to) => {
  if (to.meta.title) document.title = `${to.meta.title} · Dealrush`;
});
