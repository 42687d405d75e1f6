"""Chinese and English names of the shared vocabularies, for everything people read (messages, reports,
the dashboard). One table per vocabulary; values are ``(zh, en)``."""

from __future__ import annotations

from schemas.enums import BusinessLine, Channel, Department, Reason, Severity

DEPARTMENT_NAMES: dict[Department, tuple[str, str]] = {
    Department.retail_banking: ("个人金融部", "Personal banking"),
    Department.cards: ("信用卡中心", "Card services"),
    Department.lending: ("个人信贷部", "Lending"),
    Department.payments: ("支付结算部", "Payments and transfers"),
    Department.wealth: ("财富管理部", "Wealth management"),
    Department.digital_channels: ("电子银行部", "Digital banking"),
    Department.branch_service: ("网点服务管理部", "Branch services"),
    Department.credit_reporting: ("征信管理部", "Credit reporting"),
    Department.collections: ("贷后管理部", "Loan servicing and collections"),
    Department.fraud: ("反欺诈中心", "Fraud prevention"),
    Department.consumer_protection: ("消费者权益保护部", "Consumer protection"),
}

VALUE_LABELS: dict[str, tuple[str, str]] = {
    Channel.email: ("电子邮件", "E-mail"),
    Channel.webform: ("网页表单", "Web form"),
    Channel.hotline: ("客服热线", "Hotline"),
    Channel.social: ("社交媒体", "Social media"),
    BusinessLine.deposits_accounts: ("存款账户", "Deposits and accounts"),
    BusinessLine.debit_cards: ("借记卡", "Debit cards"),
    BusinessLine.credit_cards: ("信用卡", "Credit cards"),
    BusinessLine.loans_mortgages: ("贷款按揭", "Loans and mortgages"),
    BusinessLine.payments_transfers: ("支付转账", "Payments and transfers"),
    BusinessLine.wealth_insurance: ("理财保险", "Wealth and insurance"),
    BusinessLine.digital_channels: ("电子渠道", "Digital channels"),
    BusinessLine.credit_reporting: ("征信", "Credit reporting"),
    BusinessLine.debt_collection: ("催收", "Debt collection"),
    Reason.service_attitude: ("服务态度", "Service attitude"),
    Reason.staff_skill: ("业务技能", "Staff skill"),
    Reason.queues_staffing: ("排队与人手", "Queues and staffing"),
    Reason.operational_error: ("操作差错", "Operational error"),
    Reason.system_failure: ("系统故障", "System failure"),
    Reason.fees_pricing: ("收费定价", "Fees and pricing"),
    Reason.mis_selling: ("销售误导", "Mis-selling"),
    Reason.product_returns: ("产品收益", "Product returns"),
    Reason.contract_terms: ("合同条款", "Contract terms"),
    Reason.rules_policy: ("制度政策", "Rules and policy"),
    Reason.unauthorised_loss: ("盗刷与资金损失", "Unauthorised loss"),
    Reason.information_security: ("信息安全", "Information security"),
    Reason.collection_conduct: ("催收行为", "Collection conduct"),
    Reason.credit_report_error: ("征信异议", "Credit report error"),
    Severity.critical: ("紧急", "Critical"),
    Severity.high: ("高", "High"),
    Severity.medium: ("中", "Medium"),
    Severity.low: ("低", "Low"),
    "other": ("其他", "Other"),
}
